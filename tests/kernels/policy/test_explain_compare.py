from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from luodi.kernels.policy import CompiledPolicy, prepare_inputs
from luodi.kernels.policy.compare import compare_totals
from luodi.kernels.policy.explain import explain

AS_OF = date(2026, 3, 1)


def inputs(policy: CompiledPolicy, **extra: object) -> pl.DataFrame:
    row = {
        "resident_id": "330",
        "birth_date": date(1990, 5, 10),
        "education": "senior_high",
        "skill_level": "senior",
        "professional_title": "intermediate",
        "residence_registration_date": date(2022, 3, 1),
        "sentence_months": 6,
        **extra,
    }
    return prepare_inputs(pl.DataFrame([row]), policy.policy)


def test_explanation_lines_add_up_and_show_their_working(current_policy: CompiledPolicy) -> None:
    explanation = explain(current_policy, inputs(current_policy), "330", AS_OF)
    lines = {line.indicator_id: line for line in explanation.lines}
    assert list(lines) == current_policy.policy.indicator_ids
    # The explanation is the score: same total as scoring the population.
    scored = current_policy.score(inputs(current_policy), AS_OF)
    assert explanation.total == scored["total"].item()
    assert explanation.total == 67 - 60
    age = lines["age"]
    assert age.inputs == {"age": 35, "birth_date": date(1990, 5, 10), "as_of": AS_OF}
    assert age.points == 20 and age.evidence == "公安 户籍及居住登记"
    # 三级 (8) loses to 中级职称 (10) in the "highest only" group; the line shows the group.
    skill = lines["skill_level"]
    assert (skill.raw, skill.capped, skill.group_change, skill.points) == (8, 8, -8, 0)
    assert [effect.group_id for effect in skill.groups] == ["skills_highest", "province"]
    assert lines["sentence"].points == -60 and lines["sentence"].kind == "deduction"
    assert not explanation.floored


def test_floor_is_explained(current_policy: CompiledPolicy) -> None:
    explanation = explain(current_policy, inputs(current_policy, sentence_months=20), "330", AS_OF)
    assert explanation.total == 0
    assert explanation.floored and explanation.sum_of_lines == 67 - 200


def test_unknown_resident_is_a_key_error(current_policy: CompiledPolicy) -> None:
    with pytest.raises(KeyError):
        explain(current_policy, inputs(current_policy), "nobody", AS_OF)


def test_compare_counts_movers_thresholds_and_ranks() -> None:
    old = pl.DataFrame({"resident_id": ["a", "b", "c", "d"], "total": [10.0, 20.0, 30.0, 40.0]})
    new = pl.DataFrame({"resident_id": ["a", "b", "c", "d"], "total": [35.0, 20.0, 25.0, 60.0]})
    result = compare_totals(old, new, thresholds=[20, 50], top=2)
    assert (result.gained, result.lost, result.unchanged) == (2, 1, 1)
    assert result.thresholds == [(20, 3, 4), (50, 0, 1)]
    assert result.movers["resident_id"].to_list() == ["a", "d"]
    # ranks old d1 c2 b3 a4, new d1 a2 c3 b4: Σd² = 6, ρ = 1 − 6·6 / (4·15) = 0.4
    assert result.rank_correlation == pytest.approx(0.4)
    assert result.quantiles_old[0] == 10 and result.quantiles_new[-1] == 60
    assert result.mean_new == 35
    assert result.per_resident.columns == [
        "resident_id",
        "total_old",
        "total_new",
        "delta",
        "rank_old",
        "rank_new",
    ]
