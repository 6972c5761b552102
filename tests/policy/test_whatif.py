"""The policy what-if on the registry, both databases, a small city with a school cycle whose
seats are scarce: the draft pays social insurance double and residence less. Checked against
an independent computation: both policies scored and stored by ``score_registry`` (the
production path), the bands counted in plain Python from the stored totals, and the cycle
really allocated with each run (``allocation.allocate``, then rolled back) for the places won
and lost and each school's cut-off. Then the refusals: a YAML error names its line, a draft
nobody published, an input the registry cannot give, a town's desk."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden, Invalid
from luodi.kernels.policy import CompiledPolicy
from luodi.kernels.policy.whatif import BANDS
from luodi.policy import whatif
from luodi.policy.service import find_policy
from luodi.programs import demo, intake
from luodi.programs import service as programs
from luodi.registry.loading import load_city
from luodi.registry.models import Resident, Town
from luodi.scoring import service as scoring

AS_OF = date(2026, 3, 1)
POLICY = Path(__file__).resolve().parents[2] / "policies" / "zj-cixi" / "2026.1.yaml"


def draft_text() -> str:
    text = POLICY.read_text(encoding="utf-8")
    changed = text.replace(
        'formula: "0.5 * social_insurance_months"', 'formula: "1.0 * social_insurance_months"', 1
    ).replace(
        'formula: "0.25 * max(residence_months, 0)"', 'formula: "0.1 * max(residence_months, 0)"', 1
    )
    assert changed.count("1.0 * social_insurance_months") == 1 and "0.1 * max(" in changed
    return changed


def band_of(delta: float) -> str:
    if abs(delta) < 1e-9:
        return "same"
    size = "less" if abs(delta) <= 10 + 1e-9 else "more"
    return f"{'gain' if delta > 0 else 'lose'}_{size}"


def real_allocation(session: Session, cycle_id: int, seed: str, run_id: int) -> pl.DataFrame:
    """The cycle as ``allocate`` decides and stores it with a stored run, then undone."""
    savepoint = session.begin_nested()
    _run, results = allocation.allocate(SYSTEM_ACTOR, session, cycle_id, seed, run_id)
    savepoint.rollback()
    return results


def placed_of(results: pl.DataFrame) -> dict[int, str]:
    placed = results.filter(pl.col("outcome") == "placed")
    return dict(zip(placed["application_id"], placed["target_id"], strict=True))


def cutoffs(results: pl.DataFrame) -> dict[str, float]:
    by_rank = results.filter((pl.col("outcome") == "placed") & (pl.col("placement") == "choice"))
    return dict(by_rank.group_by("target_id").agg(pl.col("points").min()).iter_rows())


def test_the_what_if_against_stored_runs_and_real_allocations(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    text = draft_text()
    # No school cycle yet: the summary says the school effect was not estimated.
    alone = whatif.run_whatif(SYSTEM_ACTOR, session, text, "draft.yaml", AS_OF)
    assert alone["school"] is None and "未估算入学影响" in alone["summary"]["zh"][-1]

    schools = tmp_path / "schools.csv"
    pl.read_csv(small_city / "schools.csv", infer_schema=False).with_columns(
        seats=pl.lit("1")
    ).write_csv(schools)
    today = date.today()
    cycle = programs.open_cycle(
        SYSTEM_ACTOR, session, "school-entry", "试算", today - timedelta(days=5),
        today + timedelta(days=5), AS_OF, targets_file=schools, entry_grade=1,
    )  # fmt: skip
    applications = demo.school_applications(small_city, AS_OF.year)
    intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, applications.to_dicts())
    intake.verify_all(SYSTEM_ACTOR, session, cycle.id)

    phases: list[tuple[str, int, int]] = []
    result = whatif.run_whatif(
        SYSTEM_ACTOR, session, text, "draft.yaml", AS_OF, [60, 90], lambda *a: phases.append(a)
    )
    assert [phase for phase, _done, _total in phases] == [
        f"{zh} / {en}" for zh, en in whatif.PHASES
    ]
    json.dumps(result)  # kept with its job as JSON

    # The oracle: both policies scored and stored the production way.
    old_run = scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
    new_run = scoring.score_registry(
        SYSTEM_ACTOR, session, CompiledPolicy.from_text(text, "draft.yaml"), AS_OF
    )
    old = dict(scoring.run_totals(SYSTEM_ACTOR, session, old_run.run.id).iter_rows())
    new = dict(scoring.run_totals(SYSTEM_ACTOR, session, new_run.run.id).iter_rows())
    assert old.keys() == new.keys() and result["residents"] == len(old)
    bands = Counter(band_of(new[key] - old[key]) for key in old)
    assert result["bands"] == {band: bands[band] for band in BANDS}
    assert bands["gain_more"] and bands["lose_less"]  # the draft moves people both ways
    town_of = dict(
        session.execute(
            select(Resident.id, Town.code).join(Town, Town.id == Resident.town_id)
        ).all()
    )
    by_town = Counter((town_of[key], band_of(new[key] - old[key])) for key in old)
    for row in result["by_town"]:
        assert {band: row[band] for band in BANDS} == {
            band: by_town[(row["town_code"], band)] for band in BANDS
        }
    for row in result["crossings"]:
        line = row["threshold"]
        assert row["up"] == sum(old[k] < line <= new[k] for k in old)
        assert row["down"] == sum(new[k] < line <= old[k] for k in old)

    # The school effect against the allocation run for real with each stored run.
    school = result["school"]
    assert school is not None and school["cycle_id"] == cycle.id
    seed = school["seed"]
    before = real_allocation(session, cycle.id, seed, old_run.run.id)
    after = real_allocation(session, cycle.id, seed, new_run.run.id)
    placed_before, placed_after = placed_of(before), placed_of(after)
    gained = placed_after.keys() - placed_before.keys()
    lost = placed_before.keys() - placed_after.keys()
    moved = {
        key for key in placed_before.keys() & placed_after.keys()
        if placed_before[key] != placed_after[key]
    }  # fmt: skip
    assert (school["gained"], school["lost"], school["moved"]) == (
        len(gained),
        len(lost),
        len(moved),
    )
    assert school["gained"] + school["lost"] + school["moved"] > 0, "seats are scarce"
    assert (school["placed_old"], school["placed_new"]) == (len(placed_before), len(placed_after))
    cut_before, cut_after = cutoffs(before), cutoffs(after)
    for row in school["schools"]:
        assert row["cutoff_old"] == cut_before.get(row["target_id"])
        assert row["cutoff_new"] == cut_after.get(row["target_id"])
    # A dry run: the real runs above were rolled back, the what-if stored none.
    assert allocation.cycle_runs(SYSTEM_ACTOR, session, cycle.id)[1] == []
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "policy.whatif")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None
    detail = json.loads(entry.detail or "{}")
    assert detail["draft_digest"] == CompiledPolicy.from_text(text, "d").policy.digest
    assert detail["as_of"] == AS_OF.isoformat() and detail["cycle"] == cycle.id
    assert detail["source"] == {"kind": "registry", "run_id": None, "why": None}
    assert (
        result["source"]["zh"] == "输入取自登记库" and "输入取自登记库" in result["summary"]["zh"]
    )

    # Runs of zj-cixi on the date now exist. The newest is the draft's (stored under the same
    # id): the published version does not reproduce its totals, so the registry is read.
    again = whatif.run_whatif(SYSTEM_ACTOR, session, text, "draft.yaml", AS_OF, [60, 90])
    assert again["source"]["kind"] == "registry" and again["source"]["run_id"] is None
    assert (
        "不是按此版本计分" in again["source"]["zh"] and str(new_run.run.id) in again["source"]["zh"]
    )
    assert tables(again) == tables(result)
    # The published version's run: the inputs from its frame, the same result exactly.
    stored = whatif.run_whatif(
        SYSTEM_ACTOR, session, text, "draft.yaml", AS_OF, [60, 90], run_id=old_run.run.id
    )
    assert stored["source"]["kind"] == "run" and stored["source"]["run_id"] == old_run.run.id
    said = f"输入取自计分批次 {old_run.run.id}（{AS_OF.isoformat()}）"
    assert said in stored["summary"]["zh"] and said not in result["summary"]["zh"]
    assert tables(stored) == tables(result)
    assert words(stored) == words(result)
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "policy.whatif")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None
    assert json.loads(entry.detail or "{}")["source"] == {
        "kind": "run",
        "run_id": old_run.run.id,
        "run_as_of": AS_OF.isoformat(),
    }
    # A draft that reads an input the run did not store: the registry, saying which.
    wider = text.replace(
        "inputs:\n", "inputs:\n  sex: {type: string, default: '', label: {zh: 性别, en: Sex}}\n", 1
    )
    fallback = whatif.run_whatif(
        SYSTEM_ACTOR, session, wider, "draft.yaml", AS_OF, [60, 90], run_id=old_run.run.id
    )
    assert fallback["source"]["kind"] == "registry" and "sex" in fallback["source"]["zh"]
    assert tables(fallback) == {**tables(result), "draft": tables(fallback)["draft"]}
    # A run of another policy id is refused, in both languages.
    other = CompiledPolicy.from_text(text.replace("id: zj-cixi", "id: zj-other", 1), "o.yaml")
    with pytest.raises(Invalid) as refused:
        whatif.chosen_run(SYSTEM_ACTOR, session, other, AS_OF, old_run.run.id)
    assert "zj-other" in refused.value.details[0].describe("zh")
    assert "zj-other" in refused.value.details[0].describe("en")


def tables(result: dict[str, Any]) -> dict[str, Any]:
    """Everything a what-if found, whichever its inputs' source (the residents not scored
    are counted by permit state from the registry, in one sum from a run)."""
    return {
        key: value
        for key, value in result.items()
        if key not in ("source", "not_scored", "summary")
    }


def words(result: dict[str, Any]) -> list[str]:
    return [line for line in result["summary"]["zh"] if not line.startswith("输入取自")]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda text: text.replace("kind: basic", "kind: basik", 1), "", "第"),
        (lambda text: text.replace("id: zj-cixi", "id: zj-nowhere", 1), "id", "zj-nowhere"),
        (
            # Without the document's own test cases, which do not give the new input.
            lambda text: text.split("\ntests:")[0].replace(
                "inputs:\n", "inputs:\n  shoe_size: {type: int, label: {zh: 鞋码, en: shoe}}\n", 1
            ),
            "draft",
            "shoe_size",
        ),
    ],
    ids=["yaml-error", "unpublished", "unavailable-input"],
)
def test_a_draft_that_cannot_run_is_refused_saying_why(
    session: Session, change: Any, field: str, words: str
) -> None:
    text = change(POLICY.read_text(encoding="utf-8"))
    with pytest.raises(Invalid) as refused:
        whatif.run_whatif(SYSTEM_ACTOR, session, text, "draft.yaml", AS_OF)
    error = refused.value
    assert words in error.message_zh + (error.details[0].describe("zh") if error.details else "")
    if field:
        assert error.details[0].field == field
    else:  # a YAML problem names its line (the row) in the draft
        assert error.details[0].row is not None and error.details[0].file == "draft.yaml"


def test_a_towns_desk_may_not() -> None:
    desk = Actor(username="town", role=Role.TOWN_STAFF, town_code="330282001")
    with pytest.raises(Forbidden):
        whatif.run_whatif(desk, None, "id: x", "d.yaml", AS_OF)  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["1e400", "inf", "nan", "-0", "-5", "10001", "60,九十"])
def test_thresholds_that_are_no_points_line_are_refused(typed: str) -> None:
    """Once an OverflowError (a 500 on the page): every threshold is read by the analysis'
    one reader and refused in words, naming the field."""
    from luodi.analysis.service import threshold_numbers
    from luodi.errors import Invalid
    from luodi.policy.whatif import check_thresholds

    with pytest.raises(Invalid) as refused:
        check_thresholds(threshold_numbers(typed))
    assert refused.value.details[0].field == "thresholds"


def test_thresholds_in_any_order_are_counted_once_each() -> None:
    from luodi.policy.whatif import check_thresholds

    assert check_thresholds([90, 60, 90.0]) == [60.0, 90.0]


def test_a_draft_is_a_yaml_of_a_published_policy_and_not_a_flood() -> None:
    """The name and the size are refused before any parsing (a 30 MB line once came back in
    the error); a draft whose id no published policy has is blamed on its id, not the date."""
    from luodi.errors import Invalid
    from luodi.policy.whatif import MAX_DRAFT_CHARACTERS, baseline_of, compile_draft

    published = POLICY.read_text(encoding="utf-8")
    for text, name, field in (
        (published, "draft.exe", "draft_name"),
        ("x" * (MAX_DRAFT_CHARACTERS + 1), "draft.yaml", "draft"),
    ):
        with pytest.raises(Invalid) as refused:
            compile_draft(text, name)
        assert refused.value.details[0].field == field
        assert len(str(refused.value.details[0].value)) <= 80
    other = compile_draft(published.replace("id: zj-cixi", "id: other-city", 1), "d.yml")
    with pytest.raises(Invalid) as refused:
        baseline_of(other, date(2026, 3, 1))
    assert refused.value.details[0].field == "id" and "other-city" in str(refused.value.as_dict())
