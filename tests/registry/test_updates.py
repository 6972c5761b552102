"""A registry feed's re-sent rows update the people and children the registry holds
(``registry.updates``), with a first load's checks, all or nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.errors import Invalid
from luodi.feeds import service as feeds
from luodi.feeds.schemas import ImportResult, ImportStatus
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Household, Resident, Town, TownCount
from tests import family_city as city

CHILD_HEADER = "监护人身份证号,家庭编号,子女身份证号,子女姓名,另一方父母（监护人）身份证号,年级\n"
RESIDENT_HEADER = "身份证号,姓名,镇街代码,户号,与户主关系\n"


def counts(session: Session) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(Town.code, TownCount.residents, TownCount.children).join(
            TownCount, TownCount.town_id == Town.id
        )
    )
    return {code: (residents, children) for code, residents, children in rows}


def test_a_children_resend_gives_a_second_parent_and_a_grade(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "children.csv"
    feed.write_text(CHILD_HEADER + f"{city.FATHER},H1,{city.C2},二,{city.MOTHER},3\n", "utf-8")
    result = feeds.import_file(SYSTEM_ACTOR, session, "children", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    child = session.scalars(select(Child).where(Child.id_number == city.C2)).one()
    session.refresh(child)
    mother = session.scalars(select(Resident).where(Resident.id_number == city.MOTHER)).one()
    assert (child.second_parent_id_number, child.second_parent_id, child.grade) == (
        city.MOTHER,
        mother.id,
        3,
    )
    assert session.scalars(
        select(AuditEntry).where(AuditEntry.action == "registry.feed_update")
    ).all()


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        (city.FATHER, city.C1, "a parent cannot be the child"),
        (city.FATHER, city.FATHER, "the second parent cannot be the first"),
    ],
)
def test_a_resent_child_naming_itself_or_the_first_parent_is_refused(
    session: Session, tmp_path: Path, first: str, second: str, reason: str
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "children.csv"
    feed.write_text(CHILD_HEADER + f"{first},H1,{city.C1},一,{second},3\n", "utf-8")
    with pytest.raises(Invalid) as caught:
        feeds.import_file(SYSTEM_ACTOR, session, "children", feed, report=None)
    problem = caught.value.details[0]
    assert (problem.file, problem.row, problem.field) == (
        "children.csv",
        2,
        "second_parent_id_number",
    )
    assert reason in problem.describe()


def test_a_residents_resend_changes_relation_household_and_town(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    before = counts(session)
    feed = tmp_path / "residents.csv"
    # The uncle moves to his own new household in the other town, as its head; the
    # grandmother becomes "other" in H1.
    feed.write_text(
        RESIDENT_HEADER
        + f"{city.UNCLE},叔,{city.BAISHA},H9,户主\n"
        + f"{city.GRANDMOTHER},奶奶,{city.ZHOUXIANG},H1,其他\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    session.expire_all()
    people = {row.id_number: row for row in session.scalars(select(Resident))}
    h9 = session.scalars(select(Household).where(Household.household_number == "H9")).one()
    uncle = people[city.UNCLE]
    assert (uncle.relation_to_head, uncle.household_id) == ("head", h9.id)
    assert people[city.GRANDMOTHER].relation_to_head == "other"
    after = counts(session)
    assert after[city.ZHOUXIANG][0] == before[city.ZHOUXIANG][0] - 1
    assert after[city.BAISHA][0] == before[city.BAISHA][0] + 1


def test_a_resent_second_head_or_spouse_is_refused_and_nothing_changes(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "residents.csv"
    for relation, word in (("户主", "head"), ("spouse", "spouse")):
        feed.write_text(
            RESIDENT_HEADER + f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,{relation}\n", "utf-8"
        )
        with pytest.raises(Invalid) as caught:
            feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
        problem = caught.value.details[0]
        assert (problem.file, problem.row) == ("residents.csv", 2)
        assert f"a household has one {word} at most" in problem.describe()
    # The head handing over to the uncle in one file is fine.
    feed.write_text(
        RESIDENT_HEADER
        + f"{city.FATHER},父,{city.ZHOUXIANG},H1,兄弟姐妹\n"
        + f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,户主\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections


def test_a_dry_run_runs_the_registry_checks_and_writes_nothing(
    session: Session, tmp_path: Path
) -> None:
    from datetime import date

    from tests.factories import id_number

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    one = id_number("420102", date(1993, 3, 3), 555)
    two = id_number("420102", date(1994, 4, 4), 666)
    feed = tmp_path / "residents.csv"
    feed.write_text(
        RESIDENT_HEADER
        + f"{one},新,{city.ZHOUXIANG},H7,户主\n"
        + f"{two},新二,{city.ZHOUXIANG},H7,户主\n"
        + f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,配偶\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None, dry_run=True)
    assert result.status == ImportStatus.DRY_RUN
    assert result.rows_rejected == 1  # the uncle, a second spouse of H1 (checked first)
    assert result.rejections[0].header == "与户主关系"
    assert "a household has one spouse at most" in result.rejections[0].reason_en
    # The file without the uncle: the new household's two heads are found then.
    feed.write_text(feed.read_text("utf-8").rsplit("\n", 2)[0] + "\n", "utf-8")
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None, dry_run=True)
    assert (result.rows_read, result.rows_rejected) == (2, 2)
    session.expire_all()
    assert session.scalars(select(Resident).where(Resident.id_number == one)).first() is None
    assert (
        session.scalars(select(Household).where(Household.household_number == "H7")).first() is None
    )
    assert (
        session.scalars(
            select(Resident.relation_to_head).where(Resident.id_number == city.UNCLE)
        ).one()
        == "sibling"
    )

    children = tmp_path / "children.csv"
    children.write_text(CHILD_HEADER + f"{city.FATHER},H1,{city.C1},一,{city.C1},3\n", "utf-8")
    result = feeds.import_file(
        SYSTEM_ACTOR, session, "children", children, report=None, dry_run=True
    )
    assert (result.status, result.rows_rejected) == (ImportStatus.DRY_RUN, 1)
    assert result.rejections[0].column == "second_parent_id_number"


def test_an_employment_resend_updates_the_post_not_a_second_one(
    session: Session, tmp_path: Path
) -> None:
    from luodi.registry.models import Employment

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    before = len(session.scalars(select(Employment.id)).all())
    feed = tmp_path / "employment.csv"
    feed.write_text(
        "身份证号,统一社会信用代码,就业依据,开始日期,结束日期,一线岗位\n"
        f"{city.FATHER},{city.E1},劳动合同,2022-01-01,2025-06-30,否\n"
        f"{city.UNCLE},{city.E3},营业执照,2020-01-01,,是\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "employment", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    session.expire_all()
    assert len(session.scalars(select(Employment.id)).all()) == before
    posts = {
        number: (end.isoformat() if end else None, frontline)
        for number, end, frontline in session.execute(
            select(Resident.id_number, Employment.end_date, Employment.frontline).join(
                Resident, Resident.id == Employment.resident_id
            )
        )
    }
    assert posts[city.FATHER] == ("2025-06-30", False)
    assert posts[city.UNCLE] == (None, True)


PERMIT_HEADER = "居住证编号,身份证号,镇街代码,签发日期,有效期至,状态,状态日期\n"


def send_permit(
    session: Session, feed: Path, row: str, actor: Actor = SYSTEM_ACTOR
) -> ImportResult:
    """The permits feed with one row (the header above), imported by ``actor``."""
    feed.write_text(PERMIT_HEADER + row + "\n", "utf-8")
    return feeds.import_file(actor, session, "permits", feed, report=None)


def permit_counts(session: Session) -> int:
    from luodi.registry.models import TownPermitCount

    return sum(session.scalars(select(TownPermitCount.permits)))


def test_a_permit_resend_cancels_it_and_the_residence_span_ends(
    session: Session, tmp_path: Path
) -> None:
    """A cancellation sent after the permit was registered reaches the registry, the
    per-town counts and the time line (before, the re-sent row was left as it was)."""
    from datetime import date

    from luodi.registry.models import ResidencePermit
    from luodi.registry.service import permit_timeline

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "permits.csv"
    issued = send_permit(
        session, feed, f"P-1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2029-03-01,有效,"
    )
    assert issued.status == ImportStatus.IMPORTED
    assert permit_counts(session) == 1
    single = session.scalars(select(Resident).where(Resident.id_number == city.SINGLE)).one()
    as_of = date(2025, 1, 10)
    before = permit_timeline(SYSTEM_ACTOR, session, as_of, [single.id]).row(0, named=True)
    assert (before["permit_state"], before["span_start"]) == ("valid", date(2024, 3, 1))

    result = send_permit(
        session,
        feed,
        f"P-1,{city.SINGLE.lower()},{city.ZHOUXIANG},2024-03-01,2029-03-01,注销,2024-12-01",
    )
    assert result.status == ImportStatus.IMPORTED, result.rejections
    session.expire_all()
    permit = session.scalars(select(ResidencePermit)).one()
    assert (permit.status, permit.status_date) == ("cancelled", date(2024, 12, 1))
    assert permit_counts(session) == 0
    after = permit_timeline(SYSTEM_ACTOR, session, as_of, [single.id]).row(0, named=True)
    assert after["permit_state"] != "valid"
    assert (after["span_start"], after["permit_valid"]) == (None, False)
    assert session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "registry.feed_update", AuditEntry.object_type == "permits"
        )
    ).all()

    # A blank status keeps the cancellation and its date; the new expiry is taken.
    result = send_permit(
        session, feed, f"P-1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2030-03-01,,"
    )
    assert result.status == ImportStatus.IMPORTED, result.rejections
    session.expire_all()
    permit = session.scalars(select(ResidencePermit)).one()
    assert (permit.status, permit.status_date, permit.expiry_date) == (
        "cancelled",
        date(2024, 12, 1),
        date(2030, 3, 1),
    )
    assert permit_counts(session) == 0


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (
            f"P-1,{city.LONER},{city.ZHOUXIANG},2024-03-01,2029-03-01,有效,",
            "id_number",
            "its holder cannot change",
        ),
        (
            f"P-1,{city.SINGLE},{city.ZHOUXIANG},2024-04-01,2029-03-01,有效,",
            "issue_date",
            "a permit issued again has a new number",
        ),
        (
            f"P-1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2029-03-01,注销,2024-01-01",
            "status_date",
            "the status date must be neither before the issue date",
        ),
    ],
)
def test_a_permit_resend_cannot_change_its_holder_or_issue_date(
    session: Session, tmp_path: Path, row: str, column: str, reason: str
) -> None:
    from luodi.registry.models import ResidencePermit

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "permits.csv"
    send_permit(session, feed, f"P-1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2029-03-01,有效,")
    with pytest.raises(Invalid) as caught:
        send_permit(session, feed, row)
    problem = caught.value.details[0]
    assert (problem.file, problem.row, problem.field) == ("permits.csv", 2, column)
    assert reason in problem.describe()
    session.expire_all()
    permit = session.scalars(select(ResidencePermit)).one()
    assert (permit.status, permit.issue_date.isoformat()) == ("valid", "2024-03-01")
    assert permit_counts(session) == 1


def test_every_problem_at_once_and_no_stale_report(session: Session, tmp_path: Path) -> None:
    """A file with a problem of its own (a bad ID number) and one only the registry sees (a
    second head): both are listed and reported the first time; fixed in turn, the report
    says what is left, and none is left behind once the file is taken."""
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "residents.csv"
    report = tmp_path / "residents.rejected.csv"  # the default place, beside the file
    second_head = f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,户主\n"
    feed.write_text(
        RESIDENT_HEADER + f"110101199001011234,某,{city.ZHOUXIANG},H1,其他\n" + second_head,
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed)
    assert result.status == ImportStatus.REJECTED
    assert sorted((item.row, item.column) for item in result.rejections) == [
        (2, "id_number"),
        (3, "relation_to_head"),
    ]
    assert report.read_text("utf-8-sig").count("\n") == 3  # header and both rows

    feed.write_text(RESIDENT_HEADER + second_head, "utf-8")
    with pytest.raises(Invalid):
        feeds.import_file(SYSTEM_ACTOR, session, "residents", feed)
    left = report.read_text("utf-8-sig")
    assert left.count("\n") == 2 and "a household has one head at most" in left

    feed.write_text(RESIDENT_HEADER + f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,其他\n", "utf-8")
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert not report.exists() and result.report_files == []
    # A report named by the caller is theirs: never removed, even when it is the file.
    feed.write_text(RESIDENT_HEADER + f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,兄弟姐妹\n", "utf-8")
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=feed)
    assert result.status == ImportStatus.IMPORTED and feed.exists()


def test_the_department_that_owns_a_registry_feed_changes_its_rows(
    session: Session, tmp_path: Path
) -> None:
    """公安局's token sends its permits feed: a new permit and a later cancellation reach the
    registry on its authority (audited in its name); another department's token is refused.
    A permit number keeps the case the department wrote it in."""
    from luodi.auth.actor import Role
    from luodi.errors import Forbidden
    from luodi.registry.models import ResidencePermit

    police = Actor("gonganju-token", Role.DEPARTMENT, department="公安局")
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "permits.csv"
    result = send_permit(
        session, feed, f"zj-p1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2029-03-01,有效,", police
    )
    assert result.status == ImportStatus.IMPORTED, result.rejections
    cancellation = f"zj-p1,{city.SINGLE},{city.ZHOUXIANG},2024-03-01,2029-03-01,注销,2025-01-01"
    result = send_permit(session, feed, cancellation, police)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    session.expire_all()
    permits = session.scalars(select(ResidencePermit)).all()
    assert [(p.permit_number, p.status) for p in permits] == [("zj-p1", "cancelled")]
    assert session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "registry.feed_update", AuditEntry.actor == "gonganju-token"
        )
    ).all()
    schools = Actor("jiaoyuju-token", Role.DEPARTMENT, department="教育局")
    with pytest.raises(Forbidden):
        feeds.import_file(schools, session, "permits", feed, report=None)
