"""The permit time line through the whole platform, on both databases: a hand-built city
loaded with ``luodi load``'s loader, scored by ``luodi score``, read back through the score
API and ``luodi feed history``. The issue's resident (a permit 2014–2018, back in 2023) gets
29 months of residence (7.25 points at the 2026.1 policy), not 142; a late endorsement
restarts the count; a suspended permit is not scored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from luodi import cli, db
from luodi.app import create_app
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.errors import Invalid
from luodi.facts import service as facts_service
from luodi.feeds import service as feeds_service
from luodi.policy.service import find_policy
from luodi.registry import service as registry_service
from luodi.registry.models import Resident
from luodi.scoring.inputs import build_inputs
from luodi.settings import get_settings
from tests.conftest import city_engine
from tests.factories import id_number

AS_OF = date(2026, 3, 1)
TOWN = "330282114"
runner = CliRunner()

PEOPLE: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, str]]]] = {
    # name: (permits [(number, issued, expires, status[, status date])],
    #        endorsements [(number, date)])
    "back": (
        [
            ("OLD-1", "2014-05-01", "2018-04-30", "expired"),
            ("NEW-1", "2023-10-01", "2029-10-01", "valid"),
        ],
        [
            ("OLD-1", "2015-04-20"),
            ("OLD-1", "2016-04-20"),
            ("OLD-1", "2017-04-20"),
            ("NEW-1", "2024-09-20"),
            ("NEW-1", "2025-09-25"),
        ],
    ),
    "late": (
        [("P-2", "2022-03-01", "2028-03-01", "valid")],
        [
            ("P-2", "2023-02-15"),
            ("P-2", "2024-04-10"),
            ("P-2", "2025-02-20"),
            ("P-2", "2026-02-10"),
        ],
    ),
    "suspended": ([("P-3", "2023-06-01", "2029-06-01", "valid")], [("P-3", "2024-05-20")]),
    "none": ([], []),
    "cancelled": ([("P-5", "2020-01-01", "2030-01-01", "cancelled")], []),
    "expired": ([("P-6", "2019-01-01", "2025-01-01", "valid")], []),
    # The tester's case: a cancelled permit, then a new one; endorsed on time.
    "a7b7": (
        [
            ("A7", "2020-01-01", "2040-01-01", "cancelled"),
            ("B7", "2024-03-01", "2044-03-01", "valid"),
        ],
        [("A7", f"{year}-12-20") for year in range(2020, 2024)]
        + [("B7", "2025-02-20"), ("B7", "2026-02-20")],
    ),
    # Expired now, valid on an earlier date.
    "retro": (
        [("R-1", "2020-01-01", "2025-12-31", "expired")],
        [("R-1", f"{year}-12-20") for year in range(2020, 2025)],
    ),
    # Suspended (2025-06-01 missed); later sent a wrongly dated endorsement, then withdrawn.
    "withdrawn": ([("V-1", "2023-06-01", "2029-06-01", "valid")], [("V-1", "2024-05-20")]),
    # Cancelled on a date 公安 sent (状态日期).
    "dated": (
        [("D-1", "2021-01-01", "2031-01-01", "cancelled", "2025-06-01")],
        [("D-1", f"{year}-12-20") for year in range(2021, 2025)],
    ),
}
NUMBERS = {
    name: id_number(birth=date(1990, 5, 10), sequence=100 + i) for i, name in enumerate(PEOPLE)
}


def write_city(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "towns.csv").write_text(f"code,name,kind\n{TOWN},周巷镇,town\n")
    residents = ["id_number,name,town_code"]
    permits = ["permit_number,id_number,town_code,issue_date,expiry_date,status,状态日期"]
    endorsements = ["id_number,permit_number,endorsed_on"]
    for name, (own_permits, own_endorsements) in PEOPLE.items():
        number = NUMBERS[name]
        residents.append(f"{number},居民{len(residents)},{TOWN}")
        permits += [
            f"{p},{number},{TOWN},{i},{e},{s},{''.join(dated)}"
            for p, i, e, s, *dated in own_permits
        ]
        endorsements += [f"{number},{p},{d}" for p, d in own_endorsements]
    for file, lines in [
        ("residents.csv", residents),
        ("permits.csv", permits),
        ("permit_endorsements.csv", endorsements),
        ("children.csv", ["id_number,household_number,child_id_number,child_name"]),
        ("employers.csv", ["credit_code,name,town_code"]),
        ("employment.csv", ["id_number,credit_code,basis,start_date"]),
    ]:
        (directory / file).write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("timeline")
    with city_engine(request.param, write_city(folder / "city"), folder) as engine:
        yield engine


def ids(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        by_number = dict(session.execute(select(Resident.id_number, Resident.id)).all())
    return {name: by_number[number] for name, number in NUMBERS.items()}


def test_inputs_follow_the_time_line(city: Engine) -> None:
    people = ids(city)
    with session_scope(city) as session:
        population = registry_service.scoring_population(SYSTEM_ACTOR, session, AS_OF)
        inputs = build_inputs(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF).policy, AS_OF, len(people)
        )
    rows = {row["resident_id"]: row for row in population.iter_rows(named=True)}
    back, late = rows[people["back"]], rows[people["late"]]
    assert (back["permit_state"], back["residence_registration_date"]) == (
        "valid",
        date(2023, 10, 1),
    )
    assert back["permit_issue_date"] == date(2023, 10, 1)
    assert back["next_endorsement_due"] == date(2026, 10, 1)
    with session_scope(city) as session:
        reasons = registry_service.permit_timeline(SYSTEM_ACTOR, session, AS_OF)
    reason = {row["resident_id"]: row for row in reasons.iter_rows(named=True)}
    assert (
        reason[people["back"]]["reason_en"]
        == "new permit NEW-1 issued 2023-10-01 after permit OLD-1 expired"
    )
    assert (late["permit_state"], late["residence_registration_date"]) == (
        "valid",
        date(2024, 4, 10),
    )
    assert "逾期签注 2024-04-10" in reason[people["late"]]["reason_zh"]
    assert [
        rows[people[name]]["permit_state"] for name in ("suspended", "none", "cancelled", "expired")
    ] == [
        "suspended",
        "none",
        "cancelled",
        "expired",
    ]
    assert all(
        rows[people[name]]["residence_registration_date"] is None
        and rows[people[name]]["permit_valid"] is False
        for name in ("suspended", "none", "cancelled", "expired")
    )
    assert sorted(inputs.frame["resident_id"]) == sorted(
        [people["back"], people["late"], people["a7b7"]]
    )
    assert inputs.skipped == 7
    assert inputs.skipped_by_state == {"suspended": 2, "none": 1, "cancelled": 2, "expired": 2}


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Engine], None]]:
    """Point the command's settings and engines at a test database."""

    def point_at(engine: Engine) -> None:
        monkeypatch.setenv("LUODI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        db.dispose_engines()

    yield point_at
    monkeypatch.delenv("LUODI_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    db.dispose_engines()


def test_luodi_score_and_the_score_api(city: Engine, configure: Callable[[Engine], None]) -> None:
    people = ids(city)
    configure(city)
    scored = runner.invoke(cli.app, ["score", "--policy", "zj-cixi", "--as-of", AS_OF.isoformat()])
    assert scored.exit_code == 0, scored.output
    assert "3 人计分" in scored.stdout and "7 人" in scored.stdout
    assert "中止（逾期未签注） suspended 2" in scored.stdout
    assert "已注销 cancelled 2" in scored.stdout and "无居住证 none 1" in scored.stdout
    with session_scope(city) as session:
        auth_service.add_user(
            SYSTEM_ACTOR, session, "timeline-admin", "admin", "correct horse battery"
        )
    with TestClient(create_app(city)) as client:
        token = client.post(
            "/api/v1/auth/token",
            data={"username": "timeline-admin", "password": "correct horse battery"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def score(name: str) -> dict[str, Any]:
            response = client.get(f"/api/v1/residents/{people[name]}/score", headers=headers)
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        back = score("back")
        assert back["points"]["residence"] == 7.25
        line = next(
            item for item in back["explanation"]["lines"] if item["indicator"] == "residence"
        )
        assert line["inputs"]["residence_registration_date"] == "2023-10-01"
        span = line["sources"]["residence_registration_date"][0]["span"]
        assert span["span_start"] == "2023-10-01" and span["permit_state"] == "valid"
        assert span["reason_zh"] == "前证 OLD-1 已过期，新证 NEW-1 于 2023-10-01 签发，重新计算"
        assert [p["permit_number"] for p in span["permits"]] == ["OLD-1", "NEW-1"]
        assert span["permits"][1]["endorsed_on"] == ["2024-09-20", "2025-09-25"]

        late = score("late")
        assert late["points"]["residence"] == 5.5  # 22 months from the late endorsement
        response = client.get(f"/api/v1/residents/{people['suspended']}/score", headers=headers)
        assert response.status_code == 404  # not scored: suspended


def test_feed_history_shows_the_span(city: Engine, configure: Callable[[Engine], None]) -> None:
    configure(city)
    result = runner.invoke(
        cli.app,
        ["feed", "history", NUMBERS["late"], "--as-of", AS_OF.isoformat()],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "居住证时间线" in result.stdout and "2024-04-10" in result.stdout
    assert (
        "late endorsement 2024-04-10 restored permit P-2 and restarted the count" in result.stdout
    )
    suspended = runner.invoke(
        cli.app,
        ["feed", "history", NUMBERS["suspended"], "--as-of", AS_OF.isoformat()],
        env={"COLUMNS": "200"},
    )
    assert "suspended since anniversary 2025-06-01" in suspended.stdout


def test_an_endorsement_of_an_unknown_or_anothers_permit_is_refused(
    city: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "签注.csv"
    file.write_text(
        "身份证号,居住证编号,签注日期\n"
        f"{NUMBERS['late']},P-2,2026-02-11\n"
        f"{NUMBERS['late']},NO-SUCH,2026-02-11\n"
        f"{NUMBERS['late']},P-3,2026-02-11\n"
    )
    with session_scope(city) as session:
        result = feeds_service.import_file(
            SYSTEM_ACTOR, session, "permit_endorsements", file, today=AS_OF, write_reports=False
        )
        with pytest.raises(Invalid) as raised:
            feeds_service.raise_if_rejected(result)
        session.rollback()
    problems = [(p.row, p.field, p.reason_en) for p in raised.value.details]
    assert problems == [
        (3, "permit_number", "no such residence permit in the registry"),
        (4, "permit_number", "it belongs to another person, not to the holder of this ID number"),
    ]
    assert result.rows_imported == 0


def test_the_policy_cases_still_read_the_date_directly() -> None:
    """Policy YAML cases give residence_registration_date as an input: unchanged by the line."""
    compiled = find_policy("zj-cixi", AS_OF)
    frame = pl.DataFrame(
        {
            "resident_id": [1],
            "birth_date": [date(1990, 5, 10)],
            "residence_registration_date": [date(2023, 10, 1)],
        }
    )
    from luodi.kernels.policy import prepare_inputs

    points = compiled.score(prepare_inputs(frame, compiled.policy), AS_OF)
    assert points["residence"].item() == 7.25


def span(engine: Engine, name: str, as_of: date) -> dict[str, object]:
    with session_scope(engine) as session:
        return registry_service.residence_span(SYSTEM_ACTOR, session, ids(engine)[name], as_of)


def test_a_cancelled_permit_then_a_new_one_starts_a_new_span(
    city: Engine, configure: Callable[[Engine], None]
) -> None:
    """The tester's A7/B7: ``luodi feed history`` said 73 months from the cancelled permit."""
    configure(city)
    result = runner.invoke(
        cli.app,
        ["feed", "history", NUMBERS["a7b7"], "--as-of", "2026-02-01"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "前证 A7 已注销，新证 B7 于 2024-03-01 签发，重新计算" in result.stdout
    assert "无间断" not in result.stdout
    found = span(city, "a7b7", date(2026, 2, 1))
    assert (found["span_start"], found["permit_state"]) == ("2024-03-01", "valid")


def test_an_expired_permit_was_valid_on_an_earlier_date(city: Engine) -> None:
    earlier = span(city, "retro", date(2024, 6, 1))
    assert (earlier["permit_state"], earlier["span_start"]) == ("valid", "2020-01-01")
    assert "过期" not in str(earlier["reason_zh"])
    assert span(city, "retro", AS_OF)["permit_state"] == "expired"


def test_a_cancellation_with_and_without_its_date(city: Engine) -> None:
    before = span(city, "dated", date(2025, 5, 31))
    assert (before["permit_state"], before["span_start"]) == ("valid", "2021-01-01")
    after = span(city, "dated", AS_OF)
    assert after["permit_state"] == "cancelled"
    assert after["reason_zh"] == "居住证 D-1 已注销（2025-06-01），居住年限终止"
    assert after["permits"][0]["status_date"] == "2025-06-01"  # type: ignore[index]
    undated = span(city, "cancelled", date(2024, 6, 1))
    assert undated["reason_zh"] == "居住证 P-5 已注销（注销日期未报送），居住年限终止"


@pytest.mark.parametrize(
    ("status_date", "expected"),
    [("2019-12-31", "before the issue date"), ("2026-03-02", "after today")],
)
def test_a_status_date_before_the_issue_or_after_today_is_refused(
    city: Engine, tmp_path: Path, status_date: str, expected: str
) -> None:
    file = tmp_path / "居住证.csv"
    file.write_text(
        "居住证编号,身份证号,镇街代码,签发日期,有效期至,状态,注销日期\n"
        f"S-1,{NUMBERS['none']},{TOWN},2020-01-01,2030-01-01,cancelled,{status_date}\n"
    )

    def send() -> None:
        with session_scope(city) as session:
            result = feeds_service.import_file(
                SYSTEM_ACTOR, session, "permits", file, today=AS_OF, write_reports=False
            )
            feeds_service.raise_if_rejected(result)

    with pytest.raises(Invalid) as raised:
        send()
    problems = [(p.row, p.field, p.reason_en) for p in raised.value.details]
    assert [(row, field) for row, field, _ in problems] == [(2, "status_date")]
    assert expected in problems[0][2]


def send_endorsements(engine: Engine, directory: Path, lines: list[str]) -> None:
    file = directory / "签注.csv"
    file.write_text("\n".join(lines) + "\n")
    with session_scope(engine) as session:
        result = feeds_service.import_file(
            SYSTEM_ACTOR, session, "permit_endorsements", file, today=AS_OF, write_reports=False
        )
        feeds_service.raise_if_rejected(result)


def population_both_ways(engine: Engine) -> pl.DataFrame:
    """``scoring_population`` reading the endorsements itself, and handed them read with
    other facts (as ``build_inputs`` does): the two must be the same frame."""
    with session_scope(engine) as session:
        read_here = registry_service.scoring_population(SYSTEM_ACTOR, session, AS_OF)
        facts = facts_service.current_fact_rows(
            SYSTEM_ACTOR,
            session,
            ["social_insurance_months", *registry_service.TIMELINE_VARIABLES, "education"],
            AS_OF,
        )
        assert facts.filter(pl.col("name") == "permit_endorsement_void").height > 0
        handed = registry_service.scoring_population(SYSTEM_ACTOR, session, AS_OF, facts)
    assert handed.sort("resident_id").equals(read_here.sort("resident_id"))
    return handed


def test_an_endorsement_outside_its_permits_validity_is_refused(
    city: Engine, tmp_path: Path
) -> None:
    lines = [
        "身份证号,居住证编号,签注日期",
        f"{NUMBERS['late']},P-2,2026-02-11",
        f"{NUMBERS['late']},P-2,2022-02-28",  # the day before its issue
        f"{NUMBERS['expired']},P-6,2025-01-02",  # the day after its expiry
        f"{NUMBERS['expired']},P-6,2025-01-01",  # on its expiry date: accepted
    ]
    with pytest.raises(Invalid) as raised:
        send_endorsements(city, tmp_path, lines)
    problems = [(p.row, p.field, p.reason_zh, p.reason_en) for p in raised.value.details]
    assert problems == [
        (
            3,
            "endorsed_on",
            "不在所引证件的有效期内（2022-03-01 至 2028-03-01）",
            "outside the validity of the record it names (2022-03-01 to 2028-03-01)",
        ),
        (
            4,
            "endorsed_on",
            "不在所引证件的有效期内（2019-01-01 至 2025-01-01）",
            "outside the validity of the record it names (2019-01-01 to 2025-01-01)",
        ),
    ]


def test_a_wrongly_dated_endorsement_is_withdrawn(city: Engine, tmp_path: Path) -> None:
    """作废 = 是 for the wrong key: it no longer counts; the corrected date does."""
    number = NUMBERS["withdrawn"]
    assert span(city, "withdrawn", AS_OF)["permit_state"] == "suspended"
    # Sent as a late endorsement of 2025-07-01 (a typo for 2025-05-20): restarts the count.
    send_endorsements(city, tmp_path, ["身份证号,居住证编号,签注日期", f"{number},V-1,2025-07-01"])
    wrong = span(city, "withdrawn", AS_OF)
    assert (wrong["permit_state"], wrong["span_start"]) == ("valid", "2025-07-01")
    send_endorsements(
        city,
        tmp_path,
        [
            "身份证号,居住证编号,签注日期,作废",
            f"{number},V-1,2025-07-01,是",
            f"{number},V-1,2025-05-20,",
        ],
    )
    right = span(city, "withdrawn", AS_OF)
    assert (right["permit_state"], right["span_start"]) == ("valid", "2023-06-01")
    # A city's scoring reads the endorsements with the other facts, once: the same time line.
    population = population_both_ways(city)
    withdrawn = population.filter(pl.col("resident_id") == ids(city)["withdrawn"])
    assert withdrawn.select("permit_state", "residence_registration_date").row(0) == (
        "valid",
        date(2023, 6, 1),
    )
    permits = right["permits"]
    assert isinstance(permits, list)
    assert permits[0]["endorsed_on"] == ["2024-05-20", "2025-05-20"]
    # Sent again without 作废, the endorsement counts again (the later row supersedes).
    send_endorsements(
        city, tmp_path, ["身份证号,居住证编号,签注日期,作废", f"{number},V-1,2025-07-01,否"]
    )
    again = span(city, "withdrawn", AS_OF)
    assert permits != again["permits"]
    assert again["permits"][0]["endorsed_on"] == [  # type: ignore[index]
        "2024-05-20",
        "2025-05-20",
        "2025-07-01",
    ]


def test_a_cancellation_sent_after_a_run(city: Engine, tmp_path: Path) -> None:
    """公安 re-sends B7 as cancelled on 2026-01-15 after a run scored it: the old run's
    explanation says the registry changed since; the next run leaves the resident out, and
    their score (no run named) says so and why instead of showing the old total."""
    from luodi.errors import NotFound
    from luodi.scoring import service as scoring

    resident = ids(city)["a7b7"]
    with session_scope(city) as session:
        before = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id
    file = tmp_path / "居住证.csv"
    file.write_text(
        "居住证编号,身份证号,镇街代码,签发日期,有效期至,状态,注销日期\n"
        f"B7,{NUMBERS['a7b7']},{TOWN},2024-03-01,2044-03-01,注销,2026-01-15\n"
    )
    with session_scope(city) as session:
        result = feeds_service.import_file(
            SYSTEM_ACTOR, session, "permits", file, today=AS_OF, write_reports=False
        )
        feeds_service.raise_if_rejected(result)
    with session_scope(city) as session:
        old = scoring.resident_score(SYSTEM_ACTOR, session, resident, before)
        line = next(item for item in old.explanation["lines"] if item["indicator"] == "residence")
        span = line["sources"]["residence_registration_date"][0]["span"]
        assert span["permit_state"] == "cancelled" and span["changed_since_run"] is True
        assert "2024-03-01" in span["note_en"]
        after = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id
    with session_scope(city) as session, pytest.raises(NotFound) as caught:
        scoring.resident_score(SYSTEM_ACTOR, session, resident, None)
    assert f"not scored in the newest scoring run {after}" in caught.value.message_en
    assert "2026-01-15" in caught.value.message_en
    # Registered after the newest run, with a valid permit: simply not scored yet (the run
    # did not leave them out), not "not scored in the newest run".
    newcomer = id_number(birth=date(1992, 3, 3), sequence=777)
    people = tmp_path / "居民.csv"
    people.write_text(f"身份证号,姓名,镇街代码\n{newcomer},新来,{TOWN}\n")
    permit = tmp_path / "新证.csv"
    permit.write_text(
        "居住证编号,身份证号,镇街代码,签发日期,有效期至\n"
        f"N-1,{newcomer},{TOWN},2025-06-01,2030-06-01\n"
    )
    with session_scope(city) as session:
        for feed, file in (("residents", people), ("permits", permit)):
            imported = feeds_service.import_file(
                SYSTEM_ACTOR, session, feed, file, today=AS_OF, write_reports=False
            )
            feeds_service.raise_if_rejected(imported)
    with session_scope(city) as session:
        added = session.scalars(select(Resident.id).where(Resident.id_number == newcomer)).one()
        with pytest.raises(NotFound) as caught:
            scoring.resident_score(SYSTEM_ACTOR, session, added, None)
    assert "has not been scored" in caught.value.message_en
