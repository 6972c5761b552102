"""The policies in policies/ pass their own hand-computed test cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from luodi.kernels.policy import CompiledPolicy
from tests.kernels.policy.conftest import CURRENT, SHIPPED


def _compiled(path: Path) -> CompiledPolicy:
    return CompiledPolicy.from_text(path.read_text(), str(path))


# Each case of each shipped policy is its own item, named by the file and the case: a failure
# names the case, and -k selects one.
CASES = [
    pytest.param(path, index, id=f"{path.parent.name}/{path.name}: {case.name}")
    for path in SHIPPED
    for index, case in enumerate(_compiled(path).policy.tests)
]


@pytest.fixture(scope="module")
def compiled_policies() -> dict[Path, CompiledPolicy]:
    return {path: _compiled(path) for path in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policy_has_cases(
    path: Path, compiled_policies: dict[Path, CompiledPolicy]
) -> None:
    assert compiled_policies[path].policy.tests


@pytest.mark.parametrize(("path", "index"), CASES)
def test_shipped_policy_case(
    path: Path, index: int, compiled_policies: dict[Path, CompiledPolicy]
) -> None:
    compiled = compiled_policies[path]
    outcome = compiled.run_test(compiled.policy.tests[index])
    differences = {
        key: {"expected 期望": outcome.expected[key], "actual 实际": outcome.actual[key]}
        for key in outcome.failures
    }
    assert not differences, f"{path.name}「{outcome.name}」: {differences}"


def test_default_policy_has_at_least_15_cases_and_an_older_version() -> None:
    current = CompiledPolicy.from_text(CURRENT.read_text()).policy
    assert len(current.tests) >= 15
    versions = {
        CompiledPolicy.from_text(path.read_text()).policy.version
        for path in SHIPPED
        if CompiledPolicy.from_text(path.read_text()).policy.id == current.id
    }
    assert len(versions) >= 2
