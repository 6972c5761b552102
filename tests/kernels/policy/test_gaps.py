"""How far a rule is from holding (kernels/policy/gaps.py): a number short of a threshold by
exactly the gap (adding it makes the rule hold, one less does not), a span of time met on
the day it says, an upper bound or a yes/no fact never met by waiting, ``or`` its nearest
branch."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.policy.expressions import AS_OF, BOOL, DATE, INT, parse_expression
from luodi.kernels.policy.gaps import remedy

SCOPE = {"months": INT, "current": BOOL, "registered": DATE, "records": INT}
DAY = date(2026, 3, 1)


@given(st.integers(0, 200), st.integers(0, 200), st.booleans())
def test_a_number_is_short_by_exactly_its_gap(held: int, needed: int, strict: bool) -> None:
    operator = ">" if strict else ">="
    tree = parse_expression(f"months {operator} {needed}", SCOPE)
    found = remedy(tree, {"months": held, AS_OF: DAY})
    if tree.evaluate({"months": held}):
        assert found.possible and found.shortfalls == ()
        return
    (gap,) = found.shortfalls
    missing = int(gap.missing)
    assert missing > 0
    assert tree.evaluate({"months": held + missing})
    assert not tree.evaluate({"months": held + missing - 1})


def test_time_closes_a_span_on_its_day_and_nothing_closes_a_bound_or_a_fact() -> None:
    year = parse_expression("years_between(registered, as_of) >= 1", SCOPE)
    found = remedy(year, {"registered": date(2025, 6, 1), AS_OF: DAY})
    (gap,) = found.shortfalls
    assert gap.span == "years" and gap.missing == 1 and gap.met_on == date(2026, 6, 1)
    assert year.evaluate({"registered": date(2025, 6, 1), AS_OF: gap.met_on})
    assert not remedy(year, {"registered": None, AS_OF: DAY}).possible  # nothing to wait for
    assert not remedy(parse_expression("records == 0", SCOPE), {"records": 2}).possible
    assert not remedy(parse_expression("records <= 1", SCOPE), {"records": 2}).possible
    both = parse_expression("months >= 12 and current", SCOPE)
    assert not remedy(both, {"months": 3, "current": False, AS_OF: DAY}).possible
    assert remedy(both, {"months": 3, "current": True, AS_OF: DAY}).shortfalls[0].missing == 9


def test_either_branch_the_nearer_one() -> None:
    tree = parse_expression("months >= 24 or (months >= 12 and current)", SCOPE)
    (near,) = remedy(tree, {"months": 10, "current": True, AS_OF: DAY}).shortfalls
    assert (near.needed, near.missing) == (12, 2)
    (gap,) = remedy(tree, {"months": 10, "current": False, AS_OF: DAY}).shortfalls
    assert gap.needed == 24 and gap.missing == 14
