"""The entitlement finder (programs/finder.py): it reads the allocation's own decision, so the
finder and the allocation agree on every case of every shipped program; the words of a gap
and a child's programs come from the registry."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from luodi.allocation import service as allocation
from luodi.kernels.policy.document import Policy
from luodi.policy.service import find_policy
from luodi.programs import finder, rules
from luodi.programs.cases import CASE, case_frame
from luodi.programs.spec import ProgramSpec, load_program_spec
from luodi.settings import SHIPPED_POLICY_DIR, SHIPPED_PROGRAM_DIR

SHIPPED = sorted(SHIPPED_PROGRAM_DIR.glob("*.yaml"))


@cache
def _spec(path: Path) -> ProgramSpec:
    return load_program_spec(path.read_text(encoding="utf-8"), path.name)


@cache
def _policy(policy_id: str, day: date) -> Policy:
    return find_policy(policy_id, day, directory=SHIPPED_POLICY_DIR).policy


DECIDING = [
    pytest.param(path, index, id=f"{path.name}: {case.name}")
    for path in SHIPPED
    for index, case in enumerate(_spec(path).tests)
    if not case.pending and {"eligible", "failed"} & case.expect.model_fields_set
]


@pytest.mark.parametrize(("path", "index"), DECIDING)
def test_the_finder_and_the_allocation_agree_on_every_case(path: Path, index: int) -> None:
    """The case's rows go through the allocation's ``decide_rules`` and the finder reads its
    result: eligible and the failed conditions equal the case's expectation and what
    ``rules.evaluate`` alone gives; a failed condition is missing in words, with its label."""
    spec = _spec(path)
    case = spec.tests[index]
    policy = _policy(spec.policy, case.as_of)
    types = {name: item.type for name, item in policy.inputs.items()}
    frame, _, problems = case_frame(spec, case, policy, f"tests[{index}]")
    assert not problems
    evaluated, decided = allocation.decide_rules(spec, types, frame, case.as_of, key=CASE)
    verdict = finder.verdicts(
        spec, types, evaluated, decided, case.as_of, [0], key=CASE, declared=True
    )[0]
    direct = rules.by_application(spec, rules.evaluate(spec, types, frame, case.as_of), CASE)
    row = direct.row(0, named=True)
    by_rules = sorted(rule.id for rule in spec.eligibility if not row[f"rule:{rule.id}"])
    expect = case.expect
    if "eligible" in expect.model_fields_set:
        assert verdict.eligible is expect.eligible is bool(row["eligible"])
    if "failed" in expect.model_fields_set:
        assert verdict.failed == sorted(expect.failed or []) == by_rules
    assert [c.label_zh for c in verdict.missing if c.rule_id != "tier"] == [
        rule.label.zh for rule in spec.eligibility if rule.id in verdict.failed
    ]
    assert (verdict.standing is finder.Standing.ELIGIBLE) is (
        verdict.eligible and verdict.below_tiers is None
    )
