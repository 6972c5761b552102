"""The education subsidy (乐新居民建议〔2020〕2号: 3,000 yuan for a 中专/大专/本科 certificate
obtained on time) through its cycles on both databases: the level and dates come from the
教育局's graduation records, never from the application; the service centre (新市民服务中心,
a department) verifies; once per person per level — a level granted in an earlier final cycle
is refused with its reason, the next level is granted; a second application in the same cycle
is refused at intake."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import repository as allocation_repository
from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Conflict, Invalid, NotFound
from luodi.kernels.policy import KEY
from luodi.notices import service as notices
from luodi.notices.repository import all_rows
from luodi.policy.service import find_policy
from luodi.programs import context, intake
from luodi.programs import service as programs
from luodi.programs.models import ProgramCycle
from luodi.registry.loading import load_city
from luodi.registry.models import Resident
from luodi.scoring import service as scoring
from tests import family_city as city

CENTRE = Actor(username="xsm", role=Role.REVIEWER, department="新市民服务中心")
LABOUR = Actor(username="rsj", role=Role.REVIEWER, department="人社局")
FIRST, SECOND, THIRD = date(2025, 12, 31), date(2026, 3, 1), date(2026, 7, 15)

GRADUATIONS = (
    "身份证号,学历层次,入学日期,应毕业日期,毕业日期,毕业证书编号\n"
    # The father: 大专 on time in 2025, then 本科 (专升本) on time in June 2026.
    f"{city.FATHER},大专,2022-09-01,2025-06-30,2025-06-30,A1\n"
    f"{city.FATHER},专升本,2024-09-01,2026-06-30,2026-06-20,B1\n"
    # The mother: 大专 two months after the programme ended (延期毕业).
    f"{city.MOTHER},大专,2022-09-01,2025-06-30,2025-09-01,A2\n"
)


def upgrade_city(folder: Path) -> Path:
    permits = "permit_number,id_number,town_code,issue_date,expiry_date\n" + "".join(
        f"P{index},{number},{city.ZHOUXIANG},2025-10-01,2028-09-30\n"
        for index, number in enumerate((city.FATHER, city.MOTHER, city.SINGLE))
    )
    city.write_family_city(folder, permits=permits)
    (folder / "graduations.csv").write_text(GRADUATIONS, encoding="utf-8")
    return folder


def cycle_on(session: Session, as_of: date, numbers: list[str]) -> tuple[int, list[int]]:
    scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", as_of), as_of)
    today = date.today()
    cycle = programs.open_cycle(
        SYSTEM_ACTOR,
        session,
        "education-upgrade",
        f"{as_of}",
        today - timedelta(days=1),
        today + timedelta(days=5),
        as_of,
    )
    assert cycle.department == "新市民服务中心"
    ids = intake.submit_applications(
        SYSTEM_ACTOR, session, cycle.id, [{"id_number": number} for number in numbers]
    )
    return cycle.id, ids


def outcomes(session: Session, run_id: int) -> dict[int, dict[str, object]]:
    results = allocation.run_results(SYSTEM_ACTOR, session, run_id, masked=False)
    return {row[KEY]: row for row in results.iter_rows(named=True)}


def final(session: Session, run_id: int) -> None:
    notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run_id)
    notices.finalize(SYSTEM_ACTOR, session, notice.id, today=notice.ends_on + timedelta(days=1))


def test_once_per_person_per_level_from_the_graduation_records(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, upgrade_city(tmp_path), today=THIRD)
    ids = {row.id_number: row.id for row in session.scalars(select(Resident))}
    father, mother, single = ids[city.FATHER], ids[city.MOTHER], ids[city.SINGLE]

    # The first cycle: the father's 大专 (his 本科 is still to come), not the mother's late
    # 大专, nothing for a resident the 教育局 has no record of. An application says nothing
    # of the level: a `graduated` or `level` key is refused.
    cycle_id, _ = cycle_on(session, FIRST, [city.FATHER, city.MOTHER, city.SINGLE])
    with pytest.raises(Invalid):
        intake.submit_applications(
            SYSTEM_ACTOR, session, cycle_id, [{"id_number": city.UNCLE, "graduated": True}]
        )
    # A second application of the same person in the cycle is refused at intake.
    with pytest.raises(Conflict):
        intake.submit_applications(SYSTEM_ACTOR, session, cycle_id, [{"id_number": city.FATHER}])
    # The service centre verifies as a department; another department's reviewer does not
    # reach the cycle.
    with pytest.raises(NotFound):
        intake.verify_all(LABOUR, session, cycle_id)
    assert intake.verify_all(CENTRE, session, cycle_id) == 3
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, "first")
    first = outcomes(session, run.id)
    assert first[father]["outcome"] == "placed" and first[father]["entitlement"] == 3000
    assert first[father]["granted_for"] == "associate"
    assert first[mother]["outcome"] == "ineligible"
    assert "如期毕业" in str(first[mother]["reason_zh"])
    assert first[single]["outcome"] == "ineligible" and first[single]["granted_for"] is None
    final(session, run.id)

    # The second cycle, before his 本科: his only graduation was subsidised — refused, and
    # the public list says why in a word.
    cycle_id, _ = cycle_on(session, SECOND, [city.FATHER])
    intake.verify_all(CENTRE, session, cycle_id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, "second")
    second = outcomes(session, run.id)[father]
    assert second["outcome"] == "ineligible" and second["entitlement"] is None
    assert "该层次未享受过学历提升补助" in str(second["reason_zh"])
    notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run.id)
    assert all_rows(session, notice)["reason_zh"].to_list() == ["条件不符：已享受"]

    # The third, after his 本科 (June 2026): the next level is granted, once.
    cycle_id, _ = cycle_on(session, THIRD, [city.FATHER])
    intake.verify_all(CENTRE, session, cycle_id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, "third")
    third = outcomes(session, run.id)[father]
    assert third["outcome"] == "placed" and third["granted_for"] == "bachelor"
    final(session, run.id)
    # Twice granted in all, each for its own level: never the same level twice.
    grants = allocation_repository.earlier_grants(session, _any_other_cycle(session))
    assert sorted(grants.filter(pl.col("resident_id") == father)["value"]) == [
        "associate",
        "bachelor",
    ]


def _any_other_cycle(session: Session) -> ProgramCycle:
    """A cycle of the program that is none of the three (its earlier grants are all)."""
    today = date.today()
    return programs.open_cycle(
        SYSTEM_ACTOR, session, "education-upgrade", "later", today, today, THIRD
    )


def test_the_newest_graduation_not_yet_granted() -> None:
    """Pure: of a person's graduations by the date, the newest the program has not granted
    for; when every one was, the newest (so the rule can say it was granted)."""
    facts = pl.DataFrame(
        {
            "resident_id": [1, 1, 1, 1, 2, 2],
            "name": ["graduation_level", "graduation_due_level"] * 3,
            "value": ["associate", "associate", "bachelor", "bachelor", "associate", "associate"],
            "valid_from": [
                date(2023, 6, 30),
                date(2023, 6, 30),
                date(2025, 7, 10),  # graduated ten days after the due date: late
                date(2025, 6, 30),
                date(2024, 6, 1),
                date(2024, 6, 30),
            ],
        }
    )
    nothing = context.graduation_words(facts, None).sort(KEY)
    assert nothing["graduation_level"].cast(pl.String).to_list() == ["bachelor", "associate"]
    assert nothing["graduation_on_time"].to_list() == [False, True]
    assert nothing["graduation_granted"].to_list() == [False, False]
    granted = pl.DataFrame({"resident_id": [1, 2], "value": ["bachelor", "associate"]})
    after = context.graduation_words(facts, granted).sort(KEY)
    assert after["graduation_level"].cast(pl.String).to_list() == ["associate", "associate"]
    assert after["graduation_granted"].to_list() == [False, True]
    assert after["graduation_on_time"].to_list() == [True, True]


def test_the_levels_are_the_feeds() -> None:
    """The word's values are the graduation feed's levels, in its order."""
    from luodi.feeds.catalog import find_feed

    levels = find_feed("graduations").columns["level"].values or {}
    assert context.GRADUATION_LEVEL.values == tuple(levels)


def test_two_cycles_before_either_is_final_grant_a_level_once(
    session: Session, tmp_path: Path
) -> None:
    """Two cycles of the subsidy allocated while neither is final: the second sees the
    first's grant (its latest run), so the same level is not paid twice (it was, when only
    final runs counted)."""
    load_city(SYSTEM_ACTOR, session, upgrade_city(tmp_path), today=THIRD)
    father = session.scalars(select(Resident).where(Resident.id_number == city.FATHER)).one().id
    granted = []
    for name in ("one", "two"):
        cycle_id, _ = cycle_on(session, FIRST, [city.FATHER])
        intake.verify_all(CENTRE, session, cycle_id)
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, name)
        granted.append(outcomes(session, run.id)[father]["outcome"])
    assert granted == ["placed", "ineligible"]
