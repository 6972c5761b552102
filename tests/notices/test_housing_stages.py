"""Public rental's notices (住建部令第11号): the qualified list published as its own notice
(资格公示) and final before the 配租 result; the 配租 notice names projects, never target
ids, and says the rent subsidy with its amount. Both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Conflict
from luodi.notices import reasons, service
from luodi.notices.models import LAYOUT_COLUMNS, NoticeKind, NoticeLayout
from luodi.programs import demo
from luodi.programs import repository as programs_repository
from luodi.programs.models import CycleStatus
from tests.notices.conftest import resident_actor
from tests.notices.test_layouts import all_rows, allocated_cycle, pdf_text, spec_of
from tests.programs.test_housing import rental_programs  # noqa: F401 (a fixture)


def project_units(tmp_path: Path, flats: list[tuple[str, int]]) -> Path:
    rows = [
        (f"P9-{layout}-{n}", "P9", "安居苑", "330282001", layout)
        for layout, count in flats
        for n in range(count)
    ]
    path = tmp_path / "p9.csv"
    pl.DataFrame(
        rows, schema=["unit_id", "project_id", "project_name", "town_code", "layout"], orient="row"
    ).write_csv(path)
    return path


def test_the_qualified_list_is_its_own_notice_final_before_the_allocation(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    units = project_units(tmp_path, [("单间", 1), ("一室一厅", 1)])
    applications = demo.housing_applications(small_city, share=0.05).with_columns(
        choices=pl.lit("P9")
    )
    cycle_id, run_id = allocated_cycle(db, "public-rental", units, applications)
    qualified = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id, qualification=True)
    assert qualified.kind == NoticeKind.QUALIFICATION
    assert qualified.layout == NoticeLayout.QUALIFICATION
    assert qualified.title.endswith("资格审核结果公示")
    rows = all_rows(db, qualified)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.QUALIFICATION])
    assert "target_name" not in rows.columns and "unit" not in rows.columns
    results = allocation.run_results(SYSTEM_ACTOR, db, run_id, masked=False)
    refused = set(results.filter(pl.col("outcome") == "ineligible")["application_id"])
    by_ref = {int(row["ref"]): row for row in rows.iter_rows(named=True)}
    assert set(by_ref) == set(results["application_id"])
    assert 0 < len(refused) < len(by_ref)
    codes = {rule.public_reason for rule in spec_of("public-rental").eligibility} | {"居住证"}
    for ref, row in by_ref.items():
        if ref in refused:
            assert row["outcome"] == reasons.NOT_QUALIFIED and row["rank"] is None
            assert set(row["reason_zh"].removeprefix("条件不符：").split("、")) <= codes
        else:
            assert row["outcome"] == reasons.QUALIFIED and row["reason_zh"] is None
            assert row["rank"] is not None
    assert "资格审核通过" in pdf_text(db, qualified)
    # While it runs, and until it is final, the 配租 result waits.
    with pytest.raises(Conflict):
        service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    with pytest.raises(Conflict, match="还没有公示"):
        service.finalize_cycle(SYSTEM_ACTOR, db, cycle_id)
    service.finalize(SYSTEM_ACTOR, db, qualified.id, today=qualified.ends_on + timedelta(days=1))
    cycle = programs_repository.get_cycle(SYSTEM_ACTOR, db, cycle_id)
    assert cycle.status == CycleStatus.ALLOCATED  # the qualified list does not end the cycle
    let = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    assert let.kind == NoticeKind.ALLOCATION and let.title.endswith("配租结果公示")
    # Choices by project: the flat's project and layout by name, never a target id.
    let_rows = all_rows(db, let)
    names = set(let_rows["target_name"].drop_nulls())
    assert names and names <= {"安居苑·单间", "安居苑·一室一厅"}
    for column in let_rows.columns:
        if let_rows[column].dtype == pl.String:
            assert not let_rows[column].drop_nulls().str.contains("|", literal=True).any()
    service.finalize_cycle(SYSTEM_ACTOR, db, cycle_id, today=let.ends_on + timedelta(days=1))
    assert programs_repository.get_cycle(SYSTEM_ACTOR, db, cycle_id).status == CycleStatus.FINAL


def test_the_allocation_notice_says_the_rent_subsidy_and_its_amount(
    db: Session,
    small_city: Path,
    tmp_path: Path,
    rental_programs: Path,  # noqa: F811
) -> None:
    units = project_units(tmp_path, [("一室一厅", 1)])
    applications = demo.housing_applications(small_city, share=0.1).with_columns(
        choices=pl.lit("P9")
    )
    _, run_id = allocated_cycle(db, "rental-subsidy", units, applications)
    qualified = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id, qualification=True)
    service.finalize(SYSTEM_ACTOR, db, qualified.id, today=qualified.ends_on + timedelta(days=1))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    rows = all_rows(db, notice)
    results = allocation.run_results(SYSTEM_ACTOR, db, run_id, masked=False)
    subsidised = {str(i) for i in results.filter(pl.col("outcome") == "subsidy")["application_id"]}
    assert subsidised
    for row in rows.iter_rows(named=True):
        if row["ref"] in subsidised:
            assert row["outcome"] == "租赁补贴"
            assert row["target_name"] is None and row["unit"] is None
            assert row["reason_zh"] in {"房源已配完；补贴600元/月", "无适合房型；补贴600元/月"}
        else:
            assert row["outcome"] != "租赁补贴" and "补贴" not in (row["reason_zh"] or "")
    shown = pdf_text(db, notice)
    assert "租赁补贴" in shown and "补贴600元/月" in shown


def test_an_upheld_objection_reruns_the_qualified_list_in_its_own_layout(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    units = project_units(tmp_path, [("单间", 1), ("一室一厅", 1)])
    applications = demo.housing_applications(small_city, share=0.05).with_columns(
        choices=pl.lit("P9")
    )
    _, run_id = allocated_cycle(db, "public-rental", units, applications)
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id, qualification=True)
    before = all_rows(db, notice)
    ref = before["ref"][0]
    results = allocation.run_results(SYSTEM_ACTOR, db, run_id, masked=False)
    number = results.filter(pl.col("application_id") == int(ref))["id_number"][0]
    objection = service.file_objection(resident_actor(number), db, notice.id, ref, "资格有误")
    housing = Actor(username="zjj", role=Role.REVIEWER, department="住建局")
    service.review(housing, db, objection.id, uphold=True, reason="已复核")
    amendment = service.rerun(SYSTEM_ACTOR, db, notice.id)
    assert amendment.previous_run_id == run_id and amendment.new_run_id != run_id
    after = all_rows(db, notice)
    assert after.columns == list(LAYOUT_COLUMNS[NoticeLayout.QUALIFICATION])
    assert set(after["outcome"]) <= {reasons.QUALIFIED, reasons.NOT_QUALIFIED}
    assert notice.allocation_run_id == amendment.new_run_id
    # Same inputs and seed: the re-run qualifies the same households.
    assert after.select("ref", "outcome").equals(before.select("ref", "outcome"))
