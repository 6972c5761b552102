"""积分入学 decides a child by its two parents (issue 15, "School places"), on the hand-built
family city (tests/family_city.py) and both databases:

- the child ranks with the higher of its two parents' points in the cycle's scoring run; the
  uncle of the household, with more points than both, never counts;
- "父母一方" conditions hold condition by condition: the mother (more points, no job on
  record) and the father (a labour contract) make an eligible child;
- the age: grade 1 takes a child six by 31 August and not yet eight; a ten-year-old is
  refused with the age as the reason;
- the notice says whose points were used (the parent's masked name).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.kernels.masking import mask_name
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import repository as programs_repository
from luodi.programs import service as programs
from luodi.registry import city_files
from luodi.registry.loading import load_city
from luodi.scoring import service as scoring
from tests import family_city as city
from tests.factories import id_number

AS_OF = date(2026, 4, 30)
TEN_YEARS_OLD = id_number("330282", date(2016, 3, 1), 333)


def months(first: str, last: str) -> list[str]:
    """``YYYY-MM`` from ``first`` to ``last``, both included."""
    year, month = map(int, first.split("-"))
    out = []
    while f"{year}-{month:02d}" <= last:
        out.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def family(folder: Path) -> Path:
    """The family city with permits (endorsed every year) for the father, the mother and the
    uncle, a ten-year-old child of the parents, no job for the mother, and insurance and
    education that give the uncle more points than either parent: the father 6 continuous
    months, the mother 23, the uncle five years and a master's degree."""
    children = city.FILES[city_files.CHILDREN] + (
        f"{city.FATHER},H1,{TEN_YEARS_OLD},三,{city.MOTHER}\n"
    )
    # The mother has no job on record: the job condition is the father's.
    employment = "\n".join(
        line
        for line in city.FILES[city_files.EMPLOYMENT].splitlines()
        if not line.startswith(city.MOTHER)
    )
    city.write_family_city(
        folder,
        children=children,
        employment=employment + "\n",
    )
    people = {"F": city.FATHER, "M": city.MOTHER, "U": city.UNCLE}
    (folder / city_files.PERMITS).write_text(
        "permit_number,id_number,town_code,issue_date,expiry_date\n"
        + "".join(
            f"P{key},{number},{city.ZHOUXIANG},2021-03-01,2031-03-01\n"
            for key, number in people.items()
        ),
        encoding="utf-8",
    )
    (folder / city_files.PERMIT_ENDORSEMENTS).write_text(
        "id_number,permit_number,endorsed_on\n"
        + "".join(
            f"{number},P{key},{year}-03-01\n"
            for key, number in people.items()
            for year in range(2022, 2027)
        ),
        encoding="utf-8",
    )
    paid = {
        city.FATHER: months("2025-11", "2026-04"),
        city.MOTHER: months("2024-06", "2026-04"),
        city.UNCLE: months("2021-05", "2026-04"),
    }
    (folder / city_files.SOCIAL_INSURANCE).write_text(
        "id_number,period,months_paid,back_paid,credit_code\n"
        + "".join(
            f"{number},{month},1,false,{city.E1}\n"
            for number, paid_months in paid.items()
            for month in paid_months
        ),
        encoding="utf-8",
    )
    (folder / city_files.EDUCATION).write_text(
        f"id_number,education,skill_level\n{city.UNCLE},master,none\n"
        f"{city.FATHER},junior_high,none\n{city.MOTHER},junior_high,none\n",
        encoding="utf-8",
    )
    return folder


def test_a_child_ranks_with_its_parents_never_the_uncle(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, family(tmp_path / "city"), today=AS_OF)
    run = scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
    resident = dict(
        programs_repository.residents_numbered(
            session, SYSTEM_ACTOR, [city.FATHER, city.MOTHER, city.UNCLE]
        )
        .select("id_number", "resident_id")
        .iter_rows()
    )
    stored = scoring.stored_scores(
        SYSTEM_ACTOR, session, list(resident.values()), run_id=run.run.id
    )
    points = dict(stored.frame.select("resident_id", "points").iter_rows())
    father, mother, uncle = (
        points[resident[number]] for number in (city.FATHER, city.MOTHER, city.UNCLE)
    )
    # What makes the test mean something: the uncle has more points than either parent, and
    # the mother, who has no job on record, more than the father.
    assert uncle > mother > father
    jobs = dict(stored.frame.select("resident_id", "continuous_employment_months").iter_rows())
    assert jobs[resident[city.MOTHER]] == 0 < jobs[resident[city.FATHER]]

    schools = tmp_path / "schools.csv"
    schools.write_text(
        f"school_id,name,town_code,entry_grade,seats\nS1,周巷小学,{city.ZHOUXIANG},1,5\n",
        encoding="utf-8",
    )
    today = date.today()
    cycle = programs.open_cycle(
        SYSTEM_ACTOR,
        session,
        "school-entry",
        "2026 一年级",
        today - timedelta(days=1),
        today + timedelta(days=10),
        AS_OF,
        targets_file=schools,
        entry_grade=1,
    )
    applications = [
        {"id_number": city.FATHER, "child_id_number": child, "choices": "S1"}
        for child in (city.C1, TEN_YEARS_OLD)
    ] + [{"id_number": city.FATHER, "child_id_number": city.C2, "choices": "S1"}]
    intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, applications)
    intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
    allocated = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "parents")
    results = allocation.run_results(SYSTEM_ACTOR, session, allocated.id, masked=False)
    by_child = {row["child_id_number"]: row for row in results.iter_rows(named=True)}

    # C1: the mother's points (the higher of the two), never the uncle's; placed, though the
    # mother alone fails the job condition: the father meets it (父母一方, condition by
    # condition).
    first = by_child[city.C1]
    assert first["outcome"] == "placed"
    assert first["points"] == max(father, mother) == mother
    assert first["points_resident_id"] == resident[city.MOTHER]
    # C2's other parent is not registered here: the father alone counts.
    assert by_child[city.C2]["points"] == father
    # The ten-year-old is not placed in grade 1: refused, the age named.
    old = by_child[TEN_YEARS_OLD]
    assert old["outcome"] == "ineligible" and "入学年龄" in old["reason_zh"]

    notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=allocated.id)
    rows = notices.rows_page(session, notice, 0, notices.MAX_PAGE_ROWS)
    placed = rows.filter(pl.col("ref") == str(first["application_id"]))
    assert placed["points_from"].to_list() == [mask_name("母")]
