from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.allocation import service as allocation
from luodi.app import create_app
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring_service
from tests.conftest import city_engine
from tests.web.browser import browser, pages_on_one_database, server  # noqa: F401 - fixtures


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def loaded_engine(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database holding the small synthetic city, committed (the app opens its own sessions)."""
    with city_engine(request.param, small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(loaded_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(loaded_engine)) as test_client:
        yield test_client


PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def accounts(loaded_engine: Engine, small_city: Path) -> dict[str, Actor]:
    """One account of each role (two reviewers, two town staff), password ``PASSWORD``.
    The town staff ``town`` and the resident ``resident`` belong to the first town of the
    city; ``town2`` to the second."""
    return add_accounts(loaded_engine, small_city)


@pytest.fixture(scope="session")
def past_sqlite_accounts(past_sqlite_engine: Engine, past_city: Path) -> dict[str, Actor]:
    return add_accounts(past_sqlite_engine, past_city)


@pytest.fixture(scope="session")
def past_postgres_accounts(past_postgres_engine: Engine, past_city: Path) -> dict[str, Actor]:
    return add_accounts(past_postgres_engine, past_city)


def past_accounts(request: pytest.FixtureRequest, engine: Engine) -> dict[str, Actor]:
    """The accounts of the worker's shared ``past_engine`` on ``engine``'s database, added
    once with it (a module's ``accounts`` on the city with a past)."""
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    accounts: dict[str, Actor] = request.getfixturevalue(f"past_{kind}_accounts")
    return accounts


def add_accounts(engine: Engine, city: Path) -> dict[str, Actor]:
    """``accounts`` in ``engine``'s database, bound to the residents of the city ``city``."""
    residents = pl.read_csv(city / "residents.csv", infer_schema=False)
    towns = residents["town_code"].unique(maintain_order=True).to_list()
    first = residents.filter(pl.col("town_code") == towns[0]).row(0, named=True)
    bindings: dict[str, tuple[str, dict[str, str]]] = {
        "admin": ("admin", {}),
        "operator": ("operator", {}),
        "edu": ("reviewer", {"department": "教育局"}),
        "health": ("reviewer", {"department": "总工会"}),
        "town": ("town_staff", {"town_code": towns[0]}),
        "town2": ("town_staff", {"town_code": towns[1]}),
        "resident": ("resident", {"id_number": first["id_number"]}),
        "auditor": ("auditor", {}),
    }
    with session_scope(engine) as session:
        return {
            name: auth_service.actor_of(
                auth_service.add_user(SYSTEM_ACTOR, session, name, role, PASSWORD, **binding)
            )
            for name, (role, binding) in bindings.items()
        }


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def admin_client(loaded_engine: Engine, accounts: dict[str, Actor]) -> Iterator[TestClient]:
    """A client signed in as the administrator (every staff operation, all scopes)."""
    with TestClient(create_app(loaded_engine)) as test_client:
        test_client.headers.update(sign_in(test_client, "admin"))
        yield test_client


AS_OF = date(2026, 3, 1)


@pytest.fixture(scope="module")
def city(small_city: Path) -> pl.DataFrame:
    return pl.read_csv(small_city / "residents.csv", infer_schema=False)


@pytest.fixture(scope="module")
def cycle(loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame) -> dict[str, Any]:
    """A health-check quota cycle with 12 applications (the resident account's first),
    verified by 总工会 and allocated; ids of the cycle, run and the resident's application."""
    today = date.today()
    mine = accounts["resident"].id_number
    others = city.filter(pl.col("id_number") != mine)["id_number"].head(11).to_list()
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            "trust",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            places=4,
        )
        records = [{"id_number": number} for number in (mine, *others)]
        ids = intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
        intake.verify_all(accounts["health"], session, cycle.id)
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "trust-seed")
        return {
            "cycle": cycle.id,
            "run": run.id,
            "mine": ids[0],
            "other": ids[1],
            "numbers": [mine, *others],
        }
