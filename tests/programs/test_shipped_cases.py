"""The programs shipped in programs/ pass their own test cases: each case is its own item,
named by its file and case (``-k`` selects one), run as ``luodi program test`` runs it."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from luodi.kernels.policy.document import Policy
from luodi.policy.service import find_policy
from luodi.programs.cases import check_cases, run_case
from luodi.programs.spec import ProgramSpec, load_program_spec
from luodi.settings import SHIPPED_POLICY_DIR, SHIPPED_PROGRAM_DIR

SHIPPED = sorted(SHIPPED_PROGRAM_DIR.glob("*.yaml"))


def _spec(path: Path) -> ProgramSpec:
    return load_program_spec(path.read_text(encoding="utf-8"), path.name)


def _policy(spec: ProgramSpec, day: date) -> Policy:
    """The shipped version of the program's policy in force on a case's date."""
    return _policy_of(spec.policy, day)


@cache
def _policy_of(policy_id: str, day: date) -> Policy:
    return find_policy(policy_id, day, directory=SHIPPED_POLICY_DIR).policy


# A case marked `pending` states a known defect: it must fail until the rule is fixed (strict),
# and then the mark must go.
CASES = [
    pytest.param(
        path,
        index,
        id=f"{path.name}: {case.name}",
        marks=[pytest.mark.xfail(reason=case.pending, strict=True)] if case.pending else [],
    )
    for path in SHIPPED
    for index, case in enumerate(_spec(path).tests)
]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_program_has_well_formed_cases(path: Path) -> None:
    spec = _spec(path)
    assert spec.tests, f"{path.name} 没有测试用例 / has no test cases"
    check_cases(spec, lambda day: _policy(spec, day), path.name)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_shipped_program_case(path: Path, index: int) -> None:
    spec = _spec(path)
    case = spec.tests[index]
    outcome = run_case(spec, case, _policy(spec, case.as_of), f"tests[{index}]", path.name)
    differences = {
        check.key: {"expected 期望": check.expected, "actual 实际": check.actual}
        for check in outcome.failures
    }
    assert not differences, f"{path.name}「{case.name}」: {differences}"
