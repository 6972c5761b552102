"""An entitlement's list (0–6 medical insurance, 慈新服建〔2022〕6号 (二)) on the family city,
both databases: every registered child aged 0–6 is listed whether or not anybody applied, each
decided from its two parents' employee medical insurance, and the published 核准名单 masks the
ID numbers and gives the short reason code."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Conflict, Invalid
from luodi.notices import service as notices
from luodi.notices.models import LAYOUT_COLUMNS, NoticeLayout
from luodi.notices.repository import all_rows
from luodi.policy.service import find_policy
from luodi.programs import entitlement, intake
from luodi.programs import service as programs
from luodi.registry.loading import load_city
from luodi.registry.models import Child
from luodi.scoring import service as scoring
from tests import family_city as city
from tests.factories import id_number

AS_OF = date(2026, 9, 20)
NEWBORN = id_number("330282", AS_OF, 333)  # born on the list's day: 0 years old
TODDLER = id_number("330282", date(2023, 2, 14), 444)  # SINGLE's, 11 months of insurance


def months(start: date, count: int) -> list[str]:
    first = start.year * 12 + start.month - 1
    return [f"{(first + i) // 12}-{(first + i) % 12 + 1:02d}" for i in range(count)]


def family_with_insurance(folder: Path) -> Path:
    """The family city with permits, two more children and employee medical insurance:
    the mother 14 months up to September 2026 (the father none), SINGLE 11 months."""
    children = city.FILES["children.csv"] + (
        f"{city.MOTHER},H1,{NEWBORN},三,{city.FATHER}\n{city.SINGLE},H2,{TODDLER},四,\n"
    )
    permits = "permit_number,id_number,town_code,issue_date,expiry_date\n" + "".join(
        f"P{index},{number},{city.ZHOUXIANG},2025-10-01,2028-09-30\n"
        for index, number in enumerate((city.FATHER, city.MOTHER, city.SINGLE))
    )
    insurance = "id_number,period,months_paid,scheme,back_paid\n" + "".join(
        [f"{city.MOTHER},{month},1,职工,否\n" for month in months(date(2025, 8, 1), 14)]
        + [f"{city.SINGLE},{month},1,职工,否\n" for month in months(date(2025, 11, 1), 11)]
    )
    city.write_family_city(folder, children=children, permits=permits)
    (folder / "medical_insurance.csv").write_text(insurance, encoding="utf-8")
    return folder


def open_list(session: Session) -> int:
    today = date.today()
    return programs.open_cycle(
        SYSTEM_ACTOR,
        session,
        "child-medical-insurance",
        "2026年9月",
        today - timedelta(days=1),
        today + timedelta(days=10),
        AS_OF,
    ).id


def test_every_child_of_the_range_is_listed_and_decided(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, family_with_insurance(tmp_path), today=AS_OF)
    scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
    cycle_id = open_list(session)
    # Nobody applies for an entitlement: the service centre produces the list.
    with pytest.raises(Conflict):
        intake.submit_applications(
            SYSTEM_ACTOR, session, cycle_id, [{"id_number": city.FATHER}], today=date.today()
        )
    enrolment, run = entitlement.produce_list(SYSTEM_ACTOR, session, cycle_id)
    children = {row.id_number: row.id for row in session.scalars(select(Child))}
    results = allocation.run_results(SYSTEM_ACTOR, session, run.id, masked=False)
    by_child = {
        number: row
        for row in results.iter_rows(named=True)
        for number, child in children.items()
        if child == row["child_id"]
    }
    # C1 (2020-03-01) is 6; C2 (2019-09-15) turned 7 five days before: not on the list.
    assert set(by_child) == {city.C1, NEWBORN, TODDLER}
    assert (enrolment.added, enrolment.already, enrolment.without_parent) == (3, 0, 0)
    # C1: the father has no employee insurance, the mother (parent 2) 14 months and insured
    # now — either parent. The newborn: registered by the mother (parent 1). The toddler:
    # SINGLE has 11 months.
    assert by_child[city.C1]["outcome"] == "placed"
    assert by_child[NEWBORN]["outcome"] == "placed"
    toddler = by_child[TODDLER]
    assert toddler["outcome"] == "ineligible"
    assert "职工医保累计缴费满12个月" in toddler["reason_zh"]
    assert run.method == "entitlement"

    # Produced again: nobody is listed twice.
    again, rerun = entitlement.produce_list(SYSTEM_ACTOR, session, cycle_id)
    assert (again.added, again.already) == (0, 3)
    assert allocation.run_diff(SYSTEM_ACTOR, session, rerun.id).height == 0

    # The 核准名单: the children's and guardians' ID numbers masked, 核准 / 未核准 with a code.
    notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=rerun.id)
    assert notice.layout == NoticeLayout.ENTITLEMENT
    assert notice.title.endswith("核准名单公示")
    rows = all_rows(session, notice)
    assert rows.columns == list(LAYOUT_COLUMNS[NoticeLayout.ENTITLEMENT])
    assert sorted(rows["outcome"]) == ["未核准", "核准", "核准"]
    assert rows.filter(pl.col("outcome") == "未核准")["reason_zh"].to_list() == ["条件不符：医保"]
    for number in rows["child_id_number"].to_list() + rows["id_number"].to_list():
        assert "*" in number and number[:2].isdigit() and number[6:14] == "********"
    assert TODDLER not in rows["child_id_number"].to_list()


def test_only_an_entitlement_produces_a_list(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, family_with_insurance(tmp_path), today=AS_OF)
    today = date.today()
    loan = programs.open_cycle(
        SYSTEM_ACTOR, session, "loan", "贷", today, today + timedelta(days=3), AS_OF
    )
    with pytest.raises(Invalid):
        entitlement.enrol(SYSTEM_ACTOR, session, loan.id)


def test_the_list_from_the_command_line(tmp_path: Path) -> None:
    """``luodi program entitle`` produces and decides the list; the exported list is masked."""
    from tests.test_cli import run_luodi

    env = {"LUODI_DATABASE_URL": f"sqlite:///{tmp_path / 'luodi.db'}"}
    folder = family_with_insurance(tmp_path / "city")
    today = date.today()
    for args in (
        ("db", "upgrade"),
        ("load", str(folder)),
        ("score", "--policy", "zj-cixi", "--as-of", AS_OF.isoformat()),
        (
            "program",
            "open",
            "child-medical-insurance",
            "--name",
            "9月",
            "--opens",
            (today - timedelta(days=1)).isoformat(),
            "--closes",
            (today + timedelta(days=5)).isoformat(),
            "--as-of",
            AS_OF.isoformat(),
        ),
    ):
        done = run_luodi(*args, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    produced = run_luodi("program", "entitle", "1", env=env)
    assert produced.returncode == 0, produced.stderr
    assert "新列入 3 名" in produced.stdout and "entitlement" in produced.stdout
    exported = tmp_path / "list.csv"
    listed = run_luodi("program", "results", "1", "--output", str(exported), env=env)
    assert listed.returncode == 0, listed.stderr
    rows = pl.read_csv(exported, infer_schema=False)
    assert rows.height == 3
    assert sorted(rows["outcome"]) == ["ineligible", "placed", "placed"]
    assert NEWBORN not in exported.read_text(encoding="utf-8")
    assert all("*" in number for number in rows["child_id_number"])
