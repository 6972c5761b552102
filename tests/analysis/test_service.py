"""The points analysis of stored runs on both databases: its counts against the stored
totals read straight from the tables, the runs of the policy, movement, masked batch lists,
who may ask, and bad parameters."""

from __future__ import annotations

import re

import polars as pl
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from luodi.analysis import service
from luodi.auth.actor import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Forbidden, Invalid, NotFound, Unauthorized
from luodi.kernels.analysis.points import threshold_column
from luodi.scoring import frames
from luodi.scoring import repository as scoring_repository
from tests.analysis.conftest import RUN_DATES, ScoredCity

THRESHOLDS = (60.0, 90.0, 120.0)


def stored(session: Session, run: int) -> pl.DataFrame:
    """resident_id, total, town code and ID number of a run, from the tables."""
    rows = session.execute(
        text(
            "SELECT s.resident_id, s.total, t.code, r.id_number FROM resident_scores s "
            "JOIN residents r ON r.id = s.resident_id JOIN towns t ON t.id = r.town_id "
            "WHERE s.run_id = :run"
        ),
        {"run": run},
    ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"resident_id": pl.Int64, "total": pl.Float64, "town": pl.String, "id": pl.String},
        orient="row",
    )


def test_the_analysis_of_a_run_agrees_with_its_stored_totals(scored_city: ScoredCity) -> None:
    first, previous, run = scored_city.runs
    with session_scope(scored_city.engine) as session:
        analysis = service.points_analysis(SYSTEM_ACTOR, session, run, THRESHOLDS, quota=25)
        totals = stored(session, run)
        before = stored(session, previous)
    assert analysis.residents == totals.height == analysis.run.residents_scored
    assert analysis.summary["mean"] == pytest.approx(analysis.run.mean_total)
    assert analysis.summary["highest"] == totals["total"].max()

    # By town: each town's count at each threshold, as SQL rows counted here.
    towns = analysis.by_dimension["town"]
    for row in towns.iter_rows(named=True):
        mine = totals.filter(pl.col("town") == row["group"])["total"]
        assert row["residents"] == mine.len()
        for threshold in THRESHOLDS:
            assert row[threshold_column(threshold)] == int((mine >= threshold).sum())
    assert "unknown" not in towns["group"].to_list()  # the system reads everyone
    for name, table in analysis.by_dimension.items():
        assert int(table["residents"].sum()) == totals.height, name

    # Every run of the policy (both versions), in order, counted as the stored totals are.
    assert analysis.thresholds_over_runs["run_id"].unique().sort().to_list() == [
        first,
        previous,
        run,
    ]
    assert (
        analysis.thresholds_over_runs.filter(pl.col("run_id") == first)["as_of"][0]
        == (RUN_DATES[0])
    )
    for threshold in THRESHOLDS:
        now = analysis.thresholds_over_runs.filter(
            pl.col("run_id") == run, pl.col("threshold") == threshold
        )["residents"].item()
        assert now == int((totals["total"] >= threshold).sum())

    # Movement against the run just before: among residents in both, up − down = change.
    assert analysis.previous_run_id == previous
    both = totals.join(before, on="resident_id", suffix="_before")
    for row in analysis.movement_summary.iter_rows(named=True):
        t = row["threshold"]
        assert row["residents_in_both"] == both.height
        assert row["crossed_up"] - row["crossed_down"] == int((both["total"] >= t).sum()) - int(
            (both["total_before"] >= t).sum()
        )
    assert set(analysis.movement["indicator"]) <= {*analysis.indicators["indicator"], "none"}

    # Indicators: each line's sum over the stored frame as scoring reads it; the lines add
    # up to each total, but for the policy's floor of 0 (a total never below it).
    with session_scope(scored_city.engine) as session:
        lines = frames.points_of(
            frames.from_parts(scoring_repository.frame_parts(session, run), "run")
        )
    for row in analysis.indicators.iter_rows(named=True):
        assert row["total_points"] == pytest.approx(float(lines[row["indicator"]].sum()))
        assert row["residents_with_points"] == int((lines[row["indicator"]] != 0).sum())
    summed = lines.select(pl.sum_horizontal(analysis.indicators["indicator"].to_list()))
    assert (summed.to_series().clip(lower_bound=0) - lines["total"]).abs().max() < 1e-9

    # The first batch: the 25 highest totals, masked, never a whole ID number.
    one = analysis.batch_one
    assert one.height == 25
    assert sorted(one["total"].to_list(), reverse=True) == one["total"].to_list()
    assert one["total"].min() >= totals["total"].sort(descending=True)[24]
    assert all(re.fullmatch(r"\d\d\*{13}[0-9X]{3}", number) for number in one["id_number"])
    assert all(name.count("*") >= 1 for name in one["name"])
    dumped = str(analysis.as_json())
    assert not any(number in dumped for number in totals["id"].head(200))
    assert set(analysis.batches["class"]) == {"settlement", "school", "housing"}


def test_the_first_run_has_no_movement_and_no_list_without_a_quota(
    scored_city: ScoredCity,
) -> None:
    with session_scope(scored_city.engine) as session:
        analysis = service.points_analysis(SYSTEM_ACTOR, session, scored_city.runs[0])
    assert analysis.previous_run_id is None
    assert analysis.movement.height == 0
    assert analysis.movement_summary["crossed_up"].sum() == 0
    assert analysis.batch_one.height == 0 and "batch_one" not in analysis.tables()
    assert analysis.layers["batch"].null_count() == analysis.layers.height
    assert analysis.thresholds == service.DEFAULT_THRESHOLDS


def test_who_may_analyse(scored_city: ScoredCity) -> None:
    run = scored_city.runs[-1]
    with session_scope(scored_city.engine) as session:
        code = session.execute(text("SELECT min(code) FROM towns")).scalar_one()
        reviewer = Actor("edu", Role.REVIEWER, department="教育局")
        auditor = Actor("audit", Role.AUDITOR)
        whole = service.points_analysis(SYSTEM_ACTOR, session, run, THRESHOLDS)
        for actor in (reviewer, auditor):
            seen = service.points_analysis(actor, session, run, THRESHOLDS)
            assert seen.residents == whole.residents
            assert seen.by_dimension["town"].equals(whole.by_dimension["town"])
        with pytest.raises(Forbidden):
            service.points_analysis(
                Actor("town", Role.TOWN_STAFF, town_code=code), session, run, THRESHOLDS
            )
        with pytest.raises(Forbidden):
            service.points_analysis(Actor("r", Role.RESIDENT), session, run, THRESHOLDS)
        with pytest.raises(Unauthorized):
            service.points_analysis(PUBLIC_ACTOR, session, run, THRESHOLDS)
        with pytest.raises(NotFound):
            service.points_analysis(SYSTEM_ACTOR, session, run + 1000, THRESHOLDS)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "至少"),
        ("60,abc", "不是数字"),
        ("0,60", "正数"),
        ("-5", "正数"),
        ("nan", "正数"),
        ("60,60", "重复"),
        ("90,60", "从低到高"),
        (",".join(str(10 * i) for i in range(1, 12)), "最多"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_parameter(value: str, reason: str) -> None:
    with pytest.raises(Invalid) as raised:
        service.parse_thresholds(value)
    assert raised.value.details[0].field == "thresholds"
    assert reason in raised.value.message_zh


def test_bad_classes_and_quotas_are_refused() -> None:
    with pytest.raises(Invalid) as raised:
        service.admission_classes({"palace": 90})
    assert raised.value.details[0].field == "class_thresholds"
    with pytest.raises(Invalid):
        service.admission_classes({"school": 0})
    changed = {item.id: item for item in service.admission_classes({"school": 95})}
    assert changed["school"].threshold == 95 and changed["housing"].threshold == 60
    assert "ASSUMPTION" in changed["settlement"].source
    assert service.parse_thresholds("60, 90 ,120") == (60.0, 90.0, 120.0)
