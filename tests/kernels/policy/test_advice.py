"""How could I get more: every suggestion, applied to the row and scored, gives exactly the
gain it states; nothing is suggested for an indicator at its cap; no gain is ever negative."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, prepare_inputs
from luodi.kernels.policy.advice import Suggestion, advise, increments, months_later
from luodi.kernels.policy.document import InputSpec
from luodi.kernels.policy.expressions import AS_OF, Kind
from tests.kernels.policy.conftest import CURRENT, DEMO

SWITCHES = CompiledPolicy.from_text(
    """
id: switches
name: {zh: 开关, en: Switches}
version: "1"
effective_from: 2026-01-01
inputs:
  certified: {type: bool, default: false, label: {zh: 持有证书, en: Certified}}
  hours: {type: float, default: 0, label: {zh: 服务小时数, en: Hours}}
indicators:
  - {id: certificate, kind: bonus, label: {zh: 证书, en: Certificate}, formula: "5 if certified else 0"}
  - {id: service, kind: bonus, label: {zh: 服务, en: Service}, formula: "2 * floor(hours / 10)", cap: 6}
groups:
  - {id: layer, indicators: [certificate, service], cap: 8}
"""
)
"""A true/false input and a layer cap smaller than its lines' own caps together."""
POLICIES = [
    *(CompiledPolicy.from_text(path.read_text(), str(path)) for path in (CURRENT, DEMO)),
    SWITCHES,
]
AS_OF_DATES = st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31))


def value_strategy(spec: InputSpec) -> st.SearchStrategy[Any]:
    kind = spec.type.kind
    if kind == Kind.INT:
        return st.integers(min_value=0, max_value=150) | st.integers(min_value=0, max_value=3_000)
    if kind == Kind.FLOAT:
        return st.floats(min_value=0, max_value=600, allow_nan=False).map(lambda x: round(x, 1))
    if kind == Kind.BOOL:
        return st.booleans()
    if kind == Kind.DATE:
        return st.dates(min_value=date(1950, 1, 1), max_value=date(2025, 12, 31))
    if kind == Kind.ENUM:
        return st.sampled_from(spec.type.values or ())
    return st.text(max_size=3)


def typed_row(compiled: CompiledPolicy, values: dict[str, Any]) -> pl.DataFrame:
    return prepare_inputs(pl.DataFrame([{KEY: 1, **values}]), compiled.policy)


def total_of(compiled: CompiledPolicy, row: pl.DataFrame, as_of: date) -> float:
    return float(compiled.score(row, as_of)[TOTAL][0])


def applied(row: pl.DataFrame, suggestion: Suggestion) -> pl.DataFrame:
    name = suggestion.input
    return row.with_columns(pl.lit(suggestion.proposed).cast(row.schema[name]).alias(name))


def check(compiled: CompiledPolicy, row: pl.DataFrame, as_of: date) -> list[Suggestion]:
    suggestions = advise(compiled, row, as_of)
    before = total_of(compiled, row, as_of)
    detail = compiled.score(row, as_of, detail=True).row(0, named=True)
    indicators = {indicator.id: indicator for indicator in compiled.policy.indicators}
    for suggestion in suggestions:
        assert suggestion.gain > 0
        if suggestion.input == AS_OF:
            after = total_of(compiled, row, suggestion.proposed)
            assert suggestion.proposed == months_later(as_of, int(suggestion.step or 0))
        else:
            assert suggestion.current == row[suggestion.input][0]
            after = total_of(compiled, applied(row, suggestion), as_of)
        assert after - before == pytest.approx(suggestion.gain, abs=1e-9)
        for indicator_id in suggestion.indicators:
            indicator = indicators[indicator_id]
            assert indicator.kind != "deduction"
            if indicator.cap is not None:
                assert detail[f"{indicator_id}__capped"] < indicator.cap
    return suggestions


@st.composite
def cases(draw: st.DrawFn) -> tuple[CompiledPolicy, dict[str, Any], date]:
    compiled = draw(st.sampled_from(POLICIES))
    values = {name: draw(value_strategy(spec)) for name, spec in compiled.policy.inputs.items()}
    return compiled, values, draw(AS_OF_DATES)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_each_suggestion_gives_exactly_its_gain(case: tuple[CompiledPolicy, dict, date]) -> None:
    compiled, values, as_of = case
    check(compiled, typed_row(compiled, values), as_of)


CIXI = POLICIES[0]
BASE = {
    "birth_date": "1990-05-10",
    "education": "senior_high",
    "residence_registration_date": "2022-03-01",
}
MARCH = date(2026, 3, 1)


def by_input(suggestions: list[Suggestion], name: str) -> list[Suggestion]:
    return [item for item in suggestions if item.input == name]


def test_a_number_gets_its_smallest_step_and_the_step_to_its_cap() -> None:
    row = typed_row(CIXI, {**BASE, "social_insurance_months": 17, "blood_donation_ml": 650})
    suggestions = check(CIXI, row, MARCH)
    insurance = by_input(suggestions, "social_insurance_months")
    # 0.5 a month, at most 30: one month more is +0.5; 43 more (60 months) is the cap.
    assert [(item.step, item.gain, item.reaches_cap) for item in insurance] == [
        (1, 0.5, False),
        (43, 21.5, True),
    ]
    blood = by_input(suggestions, "blood_donation_ml")
    # 3 points per whole 200 ml, at most 30: 150 ml more reaches 800 ml.
    assert (blood[0].proposed, blood[0].gain) == (800, 3.0)
    assert blood[-1].proposed == 2000 and blood[-1].reaches_cap


def test_nothing_for_an_indicator_at_its_cap_nor_for_deductions() -> None:
    row = typed_row(CIXI, {**BASE, "social_insurance_months": 61, "detentions": 1})
    suggestions = check(CIXI, row, MARCH)
    assert by_input(suggestions, "social_insurance_months") == []
    assert by_input(suggestions, "detentions") == []
    assert all("detention" not in item.indicators for item in suggestions)


def test_the_gain_is_what_the_total_gains_after_the_county_cap() -> None:
    # County layer: doctor 30 + employment 10 + owned 20 + local insurance 30 + special posts
    # 20 + blood 30 + volunteering 30 = 170: a county honour (30) fills the layer's 200.
    values = {
        **BASE,
        "education": "doctor",
        "continuous_employment_months": 12,
        "housing": "owned",
        "local_social_insurance_months": 60,
        "special_post_years": 5,
        "blood_donation_ml": 2000,
        "volunteer_hours": 500,
        "county_honours": 0,
    }
    honours = by_input(check(CIXI, typed_row(CIXI, values), MARCH), "county_honours")
    assert [(item.step, item.gain) for item in honours] == [(1, 30.0)]
    # A city honour is 60 on its own line, but only 30 fit under the 200.
    city = by_input(check(CIXI, typed_row(CIXI, values), MARCH), "city_honours")
    assert [(item.step, item.gain) for item in city] == [(1, 30.0)]


def test_enum_values_are_the_later_ones_that_add_more() -> None:
    suggestions = check(CIXI, typed_row(CIXI, BASE), MARCH)
    education = by_input(suggestions, "education")
    # 高中 (5 + 5): 大专 (8 + 10), 本科 (10 + 20), 硕士 (10 + 25).
    assert [(item.proposed, item.gain) for item in education] == [
        ("associate", 8.0),
        ("bachelor", 20.0),
        ("master", 25.0),
    ]
    assert education[0].indicators == ("education", "county_education")


def test_time_passing_adds_residence_points() -> None:
    suggestions = check(CIXI, typed_row(CIXI, BASE), MARCH)
    [later] = by_input(suggestions, AS_OF)
    assert (later.step, later.proposed, later.gain) == (6, date(2026, 9, 1), 1.5)
    assert later.indicators == ("residence",)
    # Ten years registered: residence is at its cap, time adds nothing.
    capped = typed_row(CIXI, {**BASE, "residence_registration_date": "2015-01-01"})
    assert by_input(check(CIXI, capped, MARCH), AS_OF) == []


def test_time_passing_counts_from_today_when_the_score_is_older() -> None:
    # Read in November of a March score: six months from November, and the gain against
    # the March score (eight months of residence more: +2 at 0.25 a month, below the cap).
    [later] = by_input(advise(CIXI, typed_row(CIXI, BASE), MARCH, today=date(2026, 11, 30)), AS_OF)
    assert later.proposed == date(2027, 5, 30)
    march = CIXI.score_row(typed_row(CIXI, BASE).row(0, named=True), MARCH).total
    assert (
        later.gain
        == CIXI.score_row(typed_row(CIXI, BASE).row(0, named=True), date(2027, 5, 30)).total - march
    )


def test_increments_reach_round_values() -> None:
    steps = increments(650.0, Kind.INT)
    assert 1 in steps and 60 in steps and 150 in steps and 1350 in steps
    assert all(step > 0 for step in steps)
    assert 0.5 in increments(149.5, Kind.FLOAT)
    assert months_later(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_a_switch_turns_on_and_a_layer_cap_bounds_the_gain() -> None:
    row = typed_row(SWITCHES, {"certified": False, "hours": 25.0})
    suggestions = check(SWITCHES, row, MARCH)
    [switch] = by_input(suggestions, "certified")
    # 5 on its own line, but the layer holds 8 and service has 4 of it: +4.
    assert (switch.kind, switch.proposed, switch.gain) == ("enable", True, 4.0)
    hours = by_input(suggestions, "hours")
    assert [(item.step, item.gain, item.reaches_cap) for item in hours] == [(5.0, 2.0, True)]
    # Certified and at the layer's cap: nothing more to suggest.
    full = typed_row(SWITCHES, {"certified": True, "hours": 30.0})
    assert check(SWITCHES, full, MARCH) == []
