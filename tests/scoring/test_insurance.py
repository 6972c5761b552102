"""Insurance by month, end to end on both databases: a hand-built city's feed files loaded,
scored with ``luodi score`` and read through the score API, and the derived inputs
(docs/policy.md "Insurance by month") as the points policy and program rules read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

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
from luodi.facts import service as facts_service
from luodi.policy.service import find_policy
from luodi.registry.models import Resident
from luodi.scoring import service as scoring_service
from luodi.scoring.inputs import INSURANCE_INPUTS, available_inputs, build_inputs
from luodi.settings import get_settings
from tests.conftest import city_engine
from tests.factories import credit_code, id_number

AS_OF = date(2026, 2, 1)
TOWN = "330282114"
EMPLOYER = credit_code()
PASSWORD = "correct horse battery"

# Who is who in the hand-built city (each holds a permit valid on AS_OF).
YEARLY = id_number(sequence=101)  # 12 months in 2025, "11" reported for 2026
ONLY_2022 = id_number(sequence=102)  # one month paid in May 2022
BACK_PAID = id_number(sequence=103)  # 2025 by month, December back-paid, January 2026 paid
GAP = id_number(sequence=104)  # paid all 2025, nothing for January 2026
MEDICAL = id_number(sequence=105)  # employee scheme until 2025, resident scheme since
PEOPLE = [YEARLY, ONLY_2022, BACK_PAID, GAP, MEDICAL]


def write(path: Path, rows: list[dict[str, str]]) -> None:
    pl.DataFrame(rows).write_csv(path)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("insured")
    write(directory / "towns.csv", [{"code": TOWN, "name": "周巷镇", "kind": "town"}])
    write(
        directory / "residents.csv",
        [
            {"id_number": person, "name": f"居民{index}", "town_code": TOWN}
            for index, person in enumerate(PEOPLE)
        ],
    )
    write(
        directory / "permits.csv",
        [
            {
                "permit_number": f"JZ{index:010d}",
                "id_number": person,
                "town_code": TOWN,
                # First anniversary after AS_OF: no endorsement due yet.
                "issue_date": "2025-06-01",
                "expiry_date": "2035-06-01",
                "status": "valid",
            }
            for index, person in enumerate(PEOPLE)
        ],
    )
    (directory / "children.csv").write_text(
        "id_number,household_number,child_id_number,child_name\n", encoding="utf-8"
    )
    write(
        directory / "employers.csv",
        [{"credit_code": EMPLOYER, "name": "慈溪示例厂", "town_code": TOWN}],
    )
    (directory / "employment.csv").write_text(
        "id_number,credit_code,basis,start_date\n", encoding="utf-8"
    )

    def social(person: str, period: str, months: int = 1, back: str = "否") -> dict[str, str]:
        return {
            "身份证号": person,
            "费款所属期": period,
            "缴费月数": str(months),
            "是否补缴": back,
        }

    write(
        directory / "social_insurance.csv",
        [
            social(YEARLY, "2025", 12),
            social(YEARLY, "2026", 11),
            social(ONLY_2022, "2022-05"),
            *[social(BACK_PAID, f"2025-{month:02d}") for month in range(1, 12)],
            social(BACK_PAID, "2025-12", back="是"),
            social(BACK_PAID, "2026-01"),
            social(GAP, "2025", 12),
            social(GAP, "2026-01", 0),
        ],
    )
    write(
        directory / "medical_insurance.csv",
        [
            {"id_number": MEDICAL, "period": "2024", "months_paid": "12", "scheme": "职工医保"},
            {"id_number": MEDICAL, "period": "2025", "months_paid": "12", "scheme": "职工医保"},
            {"id_number": MEDICAL, "period": "2026-01", "months_paid": "1", "scheme": "居民医保"},
            {"id_number": YEARLY, "period": "2025", "months_paid": "12", "scheme": "employee"},
            {"id_number": YEARLY, "period": "2026-01", "months_paid": "1", "scheme": "employee"},
        ],
    )
    return directory


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with city_engine(request.param, city, tmp_path_factory.mktemp("insured-db")) as engine:
        yield engine


@pytest.fixture(scope="module")
def ids(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return dict(session.execute(select(Resident.id_number, Resident.id)).all())


def by_person(frame: pl.DataFrame, ids: dict[str, int]) -> dict[str, dict[str, object]]:
    rows = {row["resident_id"]: row for row in frame.iter_rows(named=True)}
    return {person: rows[ids[person]] for person in PEOPLE if ids[person] in rows}


def test_derived_insurance_inputs(engine: Engine, ids: dict[str, int]) -> None:
    with session_scope(engine) as session:
        frame = facts_service.insurance_as_of(
            SYSTEM_ACTOR,
            session,
            ["social_insurance", "employee_medical_insurance", "medical_insurance"],
            AS_OF,
        )
    people = by_person(frame, ids)

    def social(person: str) -> tuple[object, ...]:
        row = people[person]
        return (
            row["social_insurance_months"],
            row["social_insurance_continuous_months"],
            row["social_insurance_current"],
        )

    # The case: a 2026 yearly record no longer gives 23 months on 1 February.
    assert social(YEARLY) == (13, 13, True)
    # One month paid in 2022 is not "currently insured".
    assert social(ONLY_2022) == (1, 0, False)
    # The back-paid December counts in the total, breaks the run.
    assert social(BACK_PAID) == (13, 1, True)
    # Nothing for January: not current on 1 February.
    assert social(GAP) == (12, 0, False)

    medical = people[MEDICAL]
    assert medical["employee_medical_insurance_months"] == 24
    assert medical["employee_medical_insurance_continuous_months"] == 0
    assert medical["employee_medical_insurance_current"] is False
    assert medical["medical_insurance_months"] == 25
    assert people[YEARLY]["employee_medical_insurance_current"] is True
    assert people[YEARLY]["employee_medical_insurance_continuous_months"] == 13


def test_insurance_of_some_residents_only(engine: Engine, ids: dict[str, int]) -> None:
    # A program's applicants: their records only, the same figures.
    with session_scope(engine) as session:
        frame = facts_service.insurance_as_of(
            SYSTEM_ACTOR, session, ["social_insurance"], AS_OF, [ids[YEARLY], ids[ONLY_2022]]
        )
    assert frame.sort("resident_id").rows() == sorted(
        [(ids[YEARLY], 13, 13, True), (ids[ONLY_2022], 1, 0, False)]
    )


def test_every_insurance_input_is_available_and_details_are_not(engine: Engine) -> None:
    available = available_inputs()
    assert set(INSURANCE_INPUTS) <= set(available)
    assert "医保" in available["employee_medical_insurance_current"]
    for detail in facts_service.INSURANCE_DETAILS:
        assert detail not in available


def test_the_points_policy_reads_the_months_as_of_the_date(
    engine: Engine, ids: dict[str, int]
) -> None:
    with session_scope(engine) as session:
        population = build_inputs(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF).policy, AS_OF, len(PEOPLE)
        )
        later = build_inputs(
            SYSTEM_ACTOR,
            session,
            find_policy("zj-cixi", date(2026, 5, 15)).policy,
            date(2026, 5, 15),
            len(PEOPLE),
        )
    people = by_person(population.frame, ids)
    assert people[YEARLY]["social_insurance_months"] == 13
    assert people[YEARLY]["local_social_insurance_months"] == 13
    # By 15 May four months of 2026 have passed; the year's 11 counts 4 of them.
    assert by_person(later.frame, ids)[YEARLY]["social_insurance_months"] == 16


@pytest.fixture(scope="module")
def scored(engine: Engine) -> Iterator[None]:
    """``luodi score`` run in this process against the module's database."""
    url = engine.url.render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUODI_DATABASE_URL", url)
        get_settings.cache_clear()
        db.dispose_engines()
        try:
            result = CliRunner().invoke(
                cli.app, ["score", "--policy", "zj-cixi", "--as-of", str(AS_OF)]
            )
            assert result.exit_code == 0, result.output
            assert "zj-cixi 2026.1" in result.output
            yield
        finally:
            get_settings.cache_clear()
            db.dispose_engines()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def admin(engine: Engine, scored: None) -> Iterator[TestClient]:
    with session_scope(engine) as session:
        auth_service.add_user(SYSTEM_ACTOR, session, "insurance-admin", "admin", PASSWORD)
    with TestClient(create_app(engine)) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "insurance-admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


def line(client: TestClient, resident_id: int, indicator: str) -> dict[str, object]:
    response = client.get(f"/api/v1/residents/{resident_id}/score")
    assert response.status_code == 200, response.text
    lines = {item["indicator"]: item for item in response.json()["explanation"]["lines"]}
    return lines[indicator]


def test_score_api_gives_the_lawful_months_and_shows_the_records(
    admin: TestClient, ids: dict[str, int]
) -> None:
    insurance = line(admin, ids[YEARLY], "social_insurance")
    assert insurance["inputs"]["social_insurance_months"] == 13
    assert insurance["points"] == 6.5  # 0.5 per month; was 11.5 from 23 months
    sources = {
        source["period"]: source for source in insurance["sources"]["social_insurance_months"]
    }
    assert set(sources) == {"2025", "2026"}
    assert sources["2025"]["counted_months"] == 12 and "note_zh" not in sources["2025"]
    partial = sources["2026"]
    assert partial["counted_months"] == 1 and partial["value"] == "11"
    assert "该年只过去 1 个月，计 1 个月" in partial["note_zh"]
    assert "only 1 months of 2026 had passed" in partial["note_en"]
    assert partial["feed"] == "social_insurance" and partial["file"] == "social_insurance.csv"
    local = line(admin, ids[YEARLY], "local_social_insurance")
    assert local["inputs"]["local_social_insurance_months"] == 13
    counted = {
        source["period"]: source["counted_months"]
        for source in local["sources"]["local_social_insurance_months"]
    }
    assert counted == {"2025": 12, "2026": 1}


def test_score_api_marks_back_paid_months(admin: TestClient, ids: dict[str, int]) -> None:
    insurance = line(admin, ids[BACK_PAID], "social_insurance")
    assert insurance["inputs"]["social_insurance_months"] == 13
    sources = {
        source["period"]: source for source in insurance["sources"]["social_insurance_months"]
    }
    assert len(sources) == 13
    december = sources["2025-12"]
    assert december["back_paid"] is True and december["in_run"] is False
    assert december["note_zh"].startswith("补缴")
    assert sources["2026-01"]["in_run"] is True and sources["2025-11"]["in_run"] is False


def test_one_month_in_2022_scores_one_month(admin: TestClient, ids: dict[str, int]) -> None:
    insurance = line(admin, ids[ONLY_2022], "social_insurance")
    assert insurance["inputs"]["social_insurance_months"] == 1
    (source,) = insurance["sources"]["social_insurance_months"]
    assert source["period"] == "2022-05" and source["in_run"] is False


def test_the_run_stores_what_program_rules_read(
    engine: Engine, scored: None, ids: dict[str, int]
) -> None:
    # The school rules (programs/zj-cixi/school-entry.yaml) read the run's inputs.
    with session_scope(engine) as session:
        stored = scoring_service.stored_scores(
            SYSTEM_ACTOR, session, [ids[person] for person in PEOPLE], policy_id="zj-cixi"
        )
    assert stored.run.as_of == AS_OF
    people = by_person(stored.frame, ids)
    current = {person: row["social_insurance_current"] for person, row in people.items()}
    assert current == {YEARLY: True, ONLY_2022: False, BACK_PAID: True, GAP: False, MEDICAL: False}
    continuous = {
        person: row["social_insurance_continuous_months"] for person, row in people.items()
    }
    assert continuous == {YEARLY: 13, ONLY_2022: 0, BACK_PAID: 1, GAP: 0, MEDICAL: 0}
    assert people[MEDICAL]["employee_medical_insurance_months"] == 24
    assert people[MEDICAL]["employee_medical_insurance_current"] is False
