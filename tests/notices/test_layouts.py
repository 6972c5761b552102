"""Notices say what was decided, per program kind (issue 15, "Notices that say what was
decided"): the title, the outcome in the program's words, the applicant's own 志愿 (housing:
by project), the town's name, the amount of a tiered benefit, the lottery number in the PDF
as on the page, and a short public reason code, never the person's facts. Both databases."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pypdf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Conflict
from luodi.kernels.masking import mask_name
from luodi.notices import reasons, service
from luodi.notices.models import LAYOUT_COLUMNS, PUBLIC_COLUMNS, NoticeKind, NoticeLayout
from luodi.programs import catalog, demo, intake
from luodi.programs import repository as programs_repository
from luodi.programs import service as programs
from luodi.programs import targets as program_targets
from luodi.programs.spec import load_program_spec
from luodi.registry.models import Town
from tests.notices.conftest import (
    AS_OF,
    REVIEWER,
    education_cycle,
    resident_actor,
    score,
)

SHIPPED = Path(__file__).parents[2] / "programs" / "zj-cixi"
DIGIT = re.compile(r"\d")


def spec_of(program: str) -> Any:
    path = SHIPPED / f"{program}.yaml"
    return load_program_spec(path.read_text(), path.name)


def allocated_cycle(
    session: Session,
    program: str,
    targets_file: Path | None,
    applications: pl.DataFrame,
    **options: Any,
) -> tuple[int, int]:
    """(cycle id, allocation run id) of a cycle of ``program`` with these applications,
    verified and allocated on a fresh scoring run."""
    run_id = score(session)
    today = date.today()
    cycle = programs.open_cycle(
        SYSTEM_ACTOR,
        session,
        program,
        "公示",
        today - timedelta(days=1),
        today + timedelta(days=1),
        AS_OF,
        targets_file=targets_file,
        **options,
    )
    intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, applications.to_dicts())
    intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "notice-layouts", run_id)
    return cycle.id, run.id


def all_rows(session: Session, notice: Any) -> pl.DataFrame:
    return service.rows_page(session, notice, 0, service.MAX_PAGE_ROWS)


def pdf_text(session: Session, notice: Any) -> str:
    content = service.stored_export(session, notice, "pdf").content
    pages = pypdf.PdfReader(io.BytesIO(content)).pages
    return "".join("".join(page.extract_text().replace("\x00", "").split()) for page in pages)


def check_public_reasons(rows: pl.DataFrame, allowed_words: set[str]) -> None:
    """Every reason is a short code: a fixed word or 条件不符：<codes>, with no digit (no
    months, points or dates of the person)."""
    for reason in rows["reason_zh"].drop_nulls().unique().to_list():
        assert not DIGIT.search(reason), reason
        assert reason in allowed_words or reason.startswith(f"{reasons.NOT_MET}："), reason


def test_public_reason_codes_from_the_program_document() -> None:
    school, rental = spec_of("school-entry"), spec_of("public-rental")
    loan, health = spec_of("loan"), spec_of("health-check")
    # Failed eligibility rules, as the allocation words them (rules.failed_rules).
    assert reasons.public_reason(rental, "ineligible", "不符合条件：社保缴纳满一年") == (
        "条件不符：社保"
    )
    both = "不符合条件：本户在本市无自有住房、积分达到 60 分"
    assert reasons.public_reason(rental, "ineligible", both) == "条件不符：住房、积分"
    assert reasons.public_reason(loan, "ineligible", "不符合条件：在职、无失信记录") == (
        "条件不符：就业、信用"
    )
    # The school rules at a hot school and at one with spare seats.
    full, current = school.school.full_year_rule.label.zh, school.school.current_rule.label.zh
    assert reasons.public_reason(school, "unplaced", f"所填学校学位紧张，要求{full}") == (
        "条件不符：社保满一年"
    )
    assert reasons.public_reason(school, "unplaced", f"不符合：{current}") == "条件不符：社保"
    assert reasons.public_reason(school, "unplaced", "志愿均已满额（按排名未轮到）") == "志愿已满"
    assert reasons.public_reason(health, "ineligible", "不在所用计分批次中（没有有效居住证）") == (
        "条件不符：居住证"
    )
    assert reasons.public_reason(health, "unplaced", "志愿均已满额（按排名未轮到）") == "名额已满"
    assert reasons.public_reason(rental, "waitlisted", "房源已配完，进入轮候") == "房源已配完"
    assert reasons.public_reason(rental, "placed", None) is None
    # A reason nobody mapped is never published as stored: it may hold anything.
    assert reasons.public_reason(rental, "unplaced", "社保缴纳 7 个月，差 5 个月") == "其他"
    assert reasons.public_reason(rental, "ineligible", "不符合条件：未知条件") == "条件不符"
    # A rule without public_reason is named by its label.
    plain = rental.model_copy(
        update={
            "eligibility": [
                r.model_copy(update={"public_reason": None}) for r in rental.eligibility
            ]
        }
    )
    assert reasons.public_reason(plain, "ineligible", "不符合条件：本户在本市无自有住房") == (
        "条件不符：本户在本市无自有住房"
    )
    # Every rule of every shipped program declares its code.
    for path in SHIPPED.glob("*.yaml"):
        spec = load_program_spec(path.read_text(), path.name)
        rules = list(spec.eligibility)
        if spec.school is not None:
            rules += [spec.school.full_year_rule, spec.school.current_rule]
        assert all(rule.public_reason for rule in rules), path.name


def test_public_reason_is_a_short_word() -> None:
    text = (SHIPPED / "loan.yaml").read_text()
    for bad in ("在职 6 个月", "就业、信用", "满十二个月的社保缴纳"):
        with pytest.raises(Exception, match="public_reason"):
            load_program_spec(text.replace("public_reason: 就业", f"public_reason: {bad}"), "x")


def test_school_notice_says_admitted_at_the_own_choice_in_the_town(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    applications = demo.school_applications(small_city, AS_OF.year)
    # The most wanted first choice has 2 seats and is declared hot (学位紧张), where the
    # full-year rule applies; a child who meets only 即保即读 goes on to the next choice, which
    # the allocation used to count as its first (the list it allocates from has the hot school
    # dropped).
    firsts = applications.select(pl.col("choices").str.split(";").list.first().alias("school"))
    hot = firsts.group_by("school").len().sort("len", "school", descending=True)["school"][0]
    pl.read_csv(small_city / "schools.csv", infer_schema=False).with_columns(
        seats=pl.when(pl.col("school_id") == hot).then(pl.lit("2")).otherwise(pl.col("seats")),
        hot=pl.when(pl.col("school_id") == hot).then(pl.lit("是")).otherwise(pl.lit("否")),
    ).write_csv(tmp_path / "schools.csv")
    _, run_id = allocated_cycle(
        db, "school-entry", tmp_path / "schools.csv", applications, entry_grade=1
    )
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    assert notice.layout == NoticeLayout.SCHOOL_PLACES
    assert notice.title.endswith("录取结果公示")
    rows = all_rows(db, notice)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.SCHOOL_PLACES])
    assert rows.height == applications.height
    assert set(rows["outcome"]) <= {"录取", "未录取"} and "录取" in set(rows["outcome"])
    check_public_reasons(rows, {"志愿已满", "镇街统筹", "直接申请", "学位已满"})

    # The town's name, never its code.
    towns = dict(db.execute(select(Town.code, Town.name)).all())
    placed = rows.filter(pl.col("outcome") == "录取")
    assert placed["town"].null_count() == 0
    assert set(placed["town"]) <= set(towns.values())
    assert not set(rows["town"].drop_nulls()) & set(towns)

    # 志愿 is the child's own preference rank of the school given.
    results = allocation.run_results(SYSTEM_ACTOR, db, run_id, masked=False)
    written = dict(zip(applications["child_id_number"], applications["choices"], strict=True))
    by_ref = {row["ref"]: row for row in rows.iter_rows(named=True)}
    differs = after_hot = 0
    for result in results.filter(pl.col("outcome") == "placed").iter_rows(named=True):
        row = by_ref[str(result["application_id"])]
        if result["town_placement"]:
            assert row["choice_rank"] is None and row["reason_zh"] == "镇街统筹"
            continue
        choices = written[result["child_id_number"]].split(";")
        assert choices[row["choice_rank"] - 1] == result["target_id"]
        differs += row["choice_rank"] != result["choice_rank"]
        after_hot += choices[0] == hot and row["choice_rank"] > 1
    # A child placed at their second choice after the hot first one: 志愿 2, and the
    # allocation's stored rank says 2 as well (it said 1, and the notice used to say 志愿 1).
    assert after_hot > 0
    assert differs == 0
    unplaced = rows.filter(pl.col("outcome") == "未录取")
    assert unplaced["choice_rank"].null_count() == unplaced.height
    assert unplaced["reason_zh"].null_count() == 0

    # Whose points: the masked name of the parent the child ranked with, never an ID number.
    results_by_ref = {str(row["application_id"]): row for row in results.iter_rows(named=True)}
    ranked_rows = rows.filter(pl.col("points").is_not_null())
    assert ranked_rows.height and ranked_rows["points_from"].null_count() == 0
    for row in ranked_rows.iter_rows(named=True):
        assert "*" in row["points_from"] and not DIGIT.search(row["points_from"])
        result = results_by_ref[row["ref"]]
        assert mask_name(result["points_name"]) == row["points_from"]

    # The lottery number in the PDF as on the page, whole.
    ranked = rows.filter(pl.col("lottery").is_not_null())
    assert ranked.height > 0 and ranked["lottery"].str.len_chars().max() >= 15
    shown = pdf_text(db, notice)
    for lottery in ranked["lottery"].head(30):
        assert lottery in shown


def test_housing_notice_says_let_or_waiting_with_the_project_choice(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    # Two projects with flats of two layouts each (the second a copy of the city's one
    # project under another id): a one-person household may take either layout, so the
    # allocation's list holds each project twice.
    city_units = pl.read_csv(small_city / "housing_units.csv", infer_schema=False)
    first = city_units["project_id"][0]
    by_layout = [
        city_units.filter((pl.col("project_id") == first) & (pl.col("layout") == layout))
        for layout in ("单间", "一室一厅")
    ]
    second = pl.concat(part.head(3) for part in by_layout).with_columns(
        unit_id=pl.lit("P2-") + pl.col("unit_id"),
        project_id=pl.lit("P2"),
        project_name=pl.lit("第二期"),
    )
    units = pl.concat([*(part.head(1) for part in by_layout), second])
    units.write_csv(tmp_path / "units.csv")
    applications = demo.housing_applications(small_city, share=0.05).with_columns(
        choices=pl.lit(f"{first};P2")
    )
    cycle_id, run_id = allocated_cycle(db, "public-rental", tmp_path / "units.csv", applications)
    # 住建部令第11号: the qualified list is published (资格公示) and final before 配租.
    with pytest.raises(Conflict, match="资格审核结果"):
        service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    qualified = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id, qualification=True)
    service.finalize(SYSTEM_ACTOR, db, qualified.id, today=qualified.ends_on + timedelta(days=1))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    assert notice.layout == NoticeLayout.PUBLIC_HOUSING
    assert notice.title.endswith("配租结果公示")
    rows = all_rows(db, notice)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.PUBLIC_HOUSING])
    outcomes = set(rows["outcome"])
    assert {"配租", "轮候"} <= outcomes <= {"配租", "轮候", "不予配租"}
    check_public_reasons(rows, {"房源已配完", "无适合房型"})
    # Each refusal names only the program's own public reasons (or the permit), never facts.
    codes = {rule.public_reason for rule in spec_of("public-rental").eligibility} | {"居住证"}
    for reason in set(rows.filter(pl.col("outcome") == "不予配租")["reason_zh"]):
        assert reason.startswith("条件不符："), reason
        assert set(reason.removeprefix("条件不符：").split("、")) <= codes, reason

    # 志愿 is the project's place among the projects the household chose (the allocation
    # counts each project's fitting layouts as choices of their own).
    results = allocation.run_results(SYSTEM_ACTOR, db, run_id, masked=False)
    project = {t.target_id: t.group_id for t in program_targets.cycle_targets(db, cycle_id)}
    written = dict(zip(applications["id_number"], applications["choices"], strict=True))
    by_ref = {row["ref"]: row for row in rows.iter_rows(named=True)}
    differs = 0
    placed = results.filter(pl.col("outcome") == "placed")
    assert placed.height > 0
    for result in placed.iter_rows(named=True):
        row = by_ref[str(result["application_id"])]
        projects = written[result["id_number"]].split(";")
        assert projects[row["choice_rank"] - 1] == project[result["target_id"]]
        assert row["unit"] == result["unit"] and row["town"] is not None
        differs += row["choice_rank"] != result["choice_rank"]
    # The allocation's stored rank is the project's too (it counted layouts).
    assert differs == 0
    assert {project[target] for target in placed["target_id"]} >= {first, "P2"}
    shown = pdf_text(db, notice)
    for lottery in rows["lottery"].drop_nulls().head(20):
        assert lottery in shown


def test_benefit_notices_say_approved_with_the_amount(
    db: Session, residents: pl.DataFrame, small_city: Path
) -> None:
    # Tiered: 核准 with the amount; the refused with a code.
    numbers = residents["id_number"].head(6).to_list()
    cycle = education_cycle(db, numbers, [True, False, True, True, False, True], score(db))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    assert notice.layout == NoticeLayout.TIERED_BENEFIT
    assert notice.title.endswith("核准名单公示")
    rows = all_rows(db, notice)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.TIERED_BENEFIT])
    granted = rows.filter(pl.col("outcome") == "核准")
    refused = rows.filter(pl.col("outcome") == "未核准")
    assert granted.height > 0 and granted.height + refused.height == 6
    assert set(granted["amount"]) == {3000.0} and refused["amount"].null_count() == refused.height
    not_graduated = {str(cycle["ids"][1]), str(cycle["ids"][4])}
    assert not_graduated <= set(refused["ref"])
    assert set(refused.filter(pl.col("ref").is_in(not_graduated))["reason_zh"]) == {
        "条件不符：学历"
    }
    xlsx = pl.read_excel(
        io.BytesIO(service.stored_export(db, notice, "xlsx").content), has_header=False
    )
    assert "核准金额" in xlsx.row(4)

    # Quota: 核准 for the places, 未核准 (名额已满) for the rest.
    # Workers (the program takes only union frontline workers of its ten towns: a few).
    applications = demo.health_check_applications(small_city, share=0.3)
    _, run_id = allocated_cycle(db, "health-check", None, applications, places=2)
    quota = service.publish(SYSTEM_ACTOR, db, allocation_run_id=run_id)
    assert quota.layout == NoticeLayout.QUOTA_BENEFIT
    assert quota.title.endswith("核准名单公示")
    rows = all_rows(db, quota)
    assert rows.filter(pl.col("outcome") == "核准").height == 2
    assert set(rows["outcome"]) == {"核准", "未核准"}
    check_public_reasons(rows, {"名额已满"})
    assert set(rows.filter(pl.col("outcome") == "未核准")["reason_zh"]) >= {"名额已满"}


def test_score_ranking_names_the_town(db: Session) -> None:
    run_id = score(db)
    notice = service.publish(SYSTEM_ACTOR, db, scoring_run_id=run_id)
    assert notice.layout == NoticeLayout.SCORE_RANKING
    rows = all_rows(db, notice)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.SCORE_RANKING])
    towns = dict(db.execute(select(Town.code, Town.name)).all())
    assert rows["town"].null_count() == 0
    assert set(rows["town"]) <= set(towns.values())
    assert service.verify_digest(db, notice)


def test_a_cycle_spec_is_what_the_codes_come_from(db: Session, residents: pl.DataFrame) -> None:
    """The codes come from the program document the cycle was opened with (its stored copy),
    the same one its reasons were written from."""
    numbers = residents["id_number"].head(2).to_list()
    cycle = education_cycle(db, numbers, [False, False], score(db))
    spec = catalog.cycle_spec(programs_repository.get_cycle(SYSTEM_ACTOR, db, cycle["cycle"]))
    assert [rule.public_reason for rule in spec.eligibility] == ["学历"]


def test_a_notice_published_before_layouts_keeps_its_columns(
    db: Session, residents: pl.DataFrame
) -> None:
    """A notice with no layout (published before them) is read, verified, rendered and
    re-run with the columns it was published with, so its digest still proves it."""
    numbers = residents["id_number"].head(4).to_list()
    cycle = education_cycle(db, numbers, [True, False, True, True], score(db))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    # As 0016 leaves a notice published before it: no layout, the old rows.
    notice.layout = None
    old_rows = service._legacy_allocation_rows(SYSTEM_ACTOR, db, cycle["run"])
    service._store_rows(db, notice, old_rows)
    assert list(service.rows_page(db, notice, 0, 10).columns) == list(
        PUBLIC_COLUMNS[NoticeKind.ALLOCATION]
    )
    assert service.verify_digest(db, notice)
    assert "不符合条件" in set(service.rows_page(db, notice, 0, 10)["outcome"].str.head(5))

    objection = service.file_objection(
        resident_actor(numbers[1]), db, notice.id, str(cycle["ids"][1]), "已毕业"
    )
    service.review(REVIEWER, db, objection.id, uphold=True, reason="已核实毕业证书")
    intake.correct(SYSTEM_ACTOR, db, cycle["ids"][1], fields={"graduated": True})
    intake.verify(REVIEWER, db, [cycle["ids"][1]], approve=True)
    amendment = service.rerun(SYSTEM_ACTOR, db, notice.id)
    assert amendment.changed == 1 and notice.layout is None
    rows = service.rows_page(db, notice, 0, 10)
    assert list(rows.columns) == list(PUBLIC_COLUMNS[NoticeKind.ALLOCATION])
    assert service.verify_digest(db, notice)
    assert service.stored_export(db, notice, "pdf").rows_digest == notice.rows_digest
