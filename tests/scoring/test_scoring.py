"""Scoring the registry on both databases: inputs from registry and facts, a stored run,
explanations recomputed from what was stored."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid, NotFound
from luodi.facts.models import Fact
from luodi.kernels.policy import CompiledPolicy
from luodi.policy.service import find_policy
from luodi.registry.loading import load_city
from luodi.registry.models import Resident
from luodi.scoring import service
from luodi.scoring.inputs import build_inputs
from luodi.scoring.models import ResidentScore, ScoringRun
from tests.kernels.policy.conftest import DEMO

AS_OF = date(2026, 3, 1)


@pytest.fixture
def loaded(session: Session, small_city: Path) -> Session:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    return session


def test_facts_are_loaded_with_their_source(loaded: Session, small_city: Path) -> None:
    education_rows = pl.read_csv(small_city / "education.csv", infer_schema=False).height
    names = dict(loaded.execute(select(Fact.name, func.count()).group_by(Fact.name)).all())
    assert names["education"] == education_rows == names["skill_level"]
    insurance_rows = pl.read_csv(small_city / "social_insurance.csv", infer_schema=False).height
    assert names["social_insurance_months"] == insurance_rows
    fact = loaded.scalars(select(Fact).where(Fact.name == "social_insurance_months")).first()
    assert fact is not None and fact.source.startswith("social_insurance.csv:")
    # A period starts on the first of its month (a year's total on 1 January, a month's
    # record on the first of that month): no row order assumed.
    assert fact.valid_from is not None and fact.valid_from.day == 1


def test_a_bad_fact_row_undoes_the_whole_load(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    city.mkdir()
    for path in small_city.iterdir():
        (city / path.name).write_bytes(path.read_bytes())
    lines = (city / "education.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",phd,none"
    (city / "education.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid) as raised:
        load_city(SYSTEM_ACTOR, session, city, today=AS_OF)
    problem = raised.value.details[0]
    assert (problem.file, problem.row, problem.field) == ("education.csv", 6, "education")


def test_inputs_as_of_a_date(loaded: Session, small_city: Path) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    total = loaded.scalar(select(func.count()).select_from(Resident))
    population = build_inputs(SYSTEM_ACTOR, loaded, compiled.policy, AS_OF, int(total or 0))
    frame = population.frame
    assert frame.height + population.skipped == total
    assert "professional_title" in population.defaulted
    assert "housing" not in population.defaulted and "birth_date" not in population.defaulted
    # Social insurance (docs/policy.md "Insurance by month"): month records begun by the
    # date, and each year's total up to the months of it passed by the date (the synthetic
    # city sends a year either as a total or month by month, never both).
    insurance = pl.read_csv(small_city / "social_insurance.csv", infer_schema=False)
    residents = pl.read_csv(small_city / "residents.csv", infer_schema=False)
    year = pl.col("period").str.slice(0, 4).cast(pl.Int32)
    monthly = pl.col("period").str.len_chars() == 7
    assert (
        insurance.group_by("id_number", year.alias("year"))
        .agg(monthly.n_unique().alias("kinds"))
        .filter(pl.col("kinds") > 1)
        .height
        == 0
    )
    passed = pl.when(year < AS_OF.year).then(12).otherwise(AS_OF.month - 1)
    begun = pl.when(monthly).then(pl.col("period") + "-01").otherwise(pl.col("period") + "-01-01")
    expected = (
        insurance.filter(begun.str.to_date() <= AS_OF)
        .with_columns(
            counted=pl.when(monthly)
            .then(pl.col("months_paid").cast(pl.Int64))
            .otherwise(pl.min_horizontal(pl.col("months_paid").cast(pl.Int64), passed))
        )
        .group_by("id_number")
        .agg(pl.col("counted").sum().alias("months_paid"))
    )
    ids = dict(loaded.execute(select(Resident.id_number, Resident.id)).all())
    sample = expected.head(50)
    by_resident = dict(zip(frame["resident_id"], frame["social_insurance_months"], strict=True))
    checked = 0
    for id_number, months in sample.iter_rows():
        resident_id = ids[id_number]
        if resident_id in by_resident:
            assert by_resident[resident_id] == months
            checked += 1
    assert checked > 10
    assert residents.height == total


def test_score_registry_stores_an_immutable_run(loaded: Session) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    result = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF)
    run = loaded.get(ScoringRun, result.run.id)
    assert run is not None
    assert (run.policy_id, run.policy_version) == ("zj-cixi", "2026.1")
    assert run.policy_digest == compiled.policy.digest
    assert run.policy_text == compiled.policy.text
    stored = loaded.scalar(
        select(func.count()).select_from(ResidentScore).where(ResidentScore.run_id == run.id)
    )
    assert stored == run.residents_scored == result.totals.len()
    assert run.mean_total == pytest.approx(float(result.totals.mean()))  # type: ignore[arg-type]

    # Every stored line adds up to the stored total (floor 0 aside).
    some = loaded.scalars(select(ResidentScore).where(ResidentScore.run_id == run.id).limit(25))
    for score in some:
        lines = service.resident_score(SYSTEM_ACTOR, loaded, score.resident_id, run.id).points
        assert list(lines) == compiled.policy.indicator_ids
        assert max(sum(lines.values()), 0.0) == pytest.approx(score.total)

    # The explanation is recomputed from the stored policy text and inputs.
    first = loaded.scalars(select(ResidentScore).where(ResidentScore.run_id == run.id)).first()
    assert first is not None
    read = service.resident_score(SYSTEM_ACTOR, loaded, first.resident_id)
    assert read.total == first.total and read.run.id == run.id
    lines = read.explanation["lines"]
    assert [line["indicator"] for line in lines] == compiled.policy.indicator_ids
    assert lines[0]["inputs"]["birth_date"] == "****-**-**"
    assert isinstance(lines[0]["inputs"]["age"], int)

    # A second run is a new run; the first stays as it was.
    second = service.score_registry(
        SYSTEM_ACTOR, loaded, find_policy("zj-cixi", date(2025, 6, 30)), date(2025, 6, 30)
    )
    assert second.run.id != run.id and second.run.policy_version == "2023.1"
    assert (
        service.resident_score(SYSTEM_ACTOR, loaded, first.resident_id, run.id).total == first.total
    )


def test_resident_score_not_found_cases(loaded: Session) -> None:
    with pytest.raises(NotFound):
        service.resident_score(SYSTEM_ACTOR, loaded, 10**9)
    resident_id = loaded.scalar(select(Resident.id))
    assert resident_id is not None
    with pytest.raises(NotFound, match="not been scored"):
        service.resident_score(SYSTEM_ACTOR, loaded, resident_id)
    with pytest.raises(NotFound, match="no scoring run"):
        service.resident_score(SYSTEM_ACTOR, loaded, resident_id, 999_999)


def test_a_policy_needing_inputs_nobody_has_is_refused(loaded: Session) -> None:
    compiled = CompiledPolicy.from_text(
        DEMO.read_text()
        .split("\ntests:")[0]
        .replace("  convictions: {type: int, default: 0}", "  convictions: {type: int}")
    )
    with pytest.raises(Invalid, match="convictions"):
        service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF)


@pytest.mark.parametrize("on", [date(2025, 11, 1), date(2022, 1, 1)])
def test_a_version_is_not_applied_outside_its_effective_dates(loaded: Session, on: date) -> None:
    """A stored run is what notices and allocations rest on: 2026.1 (in force from
    2026-01-01) applied to 2025-11-01 would rank people by rules that did not hold then."""
    compiled = find_policy("zj-cixi", AS_OF, version="2026.1")
    with pytest.raises(Invalid) as caught:
        service.score_registry(SYSTEM_ACTOR, loaded, compiled, on)
    assert caught.value.details[0].field == "as_of"
    assert "not on" in caught.value.message_en and "luodi policy score" in caught.value.message_en
    assert loaded.scalars(select(ScoringRun)).all() == []
    # The version in force that day is accepted (2023.1 on 2025-11-01).
    if on.year == 2025:
        earlier = find_policy("zj-cixi", on)
        assert earlier.policy.version == "2023.1"
        assert service.score_registry(SYSTEM_ACTOR, loaded, earlier, on).run.policy_version == (
            "2023.1"
        )
