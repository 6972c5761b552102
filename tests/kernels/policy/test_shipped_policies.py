"""The policies in policies/ pass their own hand-computed test cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from luodi.kernels.policy import CompiledPolicy
from tests.kernels.policy.conftest import CURRENT, SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policy_passes_its_cases(path: Path) -> None:
    compiled = CompiledPolicy.from_text(path.read_text(), str(path))
    outcomes = compiled.run_tests()
    assert outcomes
    failed = [(o.name, o.expected, o.actual) for o in outcomes if not o.passed]
    assert not failed


def test_default_policy_has_at_least_15_cases_and_an_older_version() -> None:
    current = CompiledPolicy.from_text(CURRENT.read_text()).policy
    assert len(current.tests) >= 15
    versions = {
        CompiledPolicy.from_text(path.read_text()).policy.version
        for path in SHIPPED
        if CompiledPolicy.from_text(path.read_text()).policy.id == current.id
    }
    assert len(versions) >= 2
