"""One scoping mechanism, tested as a matrix: every role × every kind of object × read and
write, through the repositories (the SQL each domain builds from ``auth/scopes.py``, counted
against an independent count in plain SQL) and through HTTP, on SQLite and PostgreSQL.

Expected answers: in scope → 200 (or the state's own answer, e.g. 409 for a decided
application); out of scope → 404, the same as missing (for nobody signed in too: an object
nobody may see without an account does not exist for them); a role that may not do it → 403;
an endpoint that is only for signed-in users, or any write, with nobody signed in → 401.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from luodi.allocation import repository as allocation_repository
from luodi.auth import service as auth_service
from luodi.auth.actor import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.feeds import repository as feeds_repository
from luodi.feeds.models import FeedBatch
from luodi.notices import repository as notices_repository
from luodi.notices import service as notices
from luodi.programs import repository as programs_repository
from luodi.registry import repository as registry_repository
from luodi.registry.models import Resident, Town
from luodi.scoring import repository as scoring_repository
from tests.web.conftest import sign_in

STAFF = ("admin", "operator", "auditor")
ROLES = ("public", *STAFF, "health", "edu", "town", "town2", "resident", "department")


@pytest.fixture(scope="module")
def world(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any], small_city: Path
) -> dict[str, Any]:
    """The objects of the matrix: residents of the first and second town, the cycle's
    applications and run (总工会), a feed batch of 人社局, the published notice, a department
    token of 人社局."""
    residents = pl.read_csv(small_city / "residents.csv", infer_schema=False)
    towns = residents["town_code"].unique(maintain_order=True).to_list()
    with session_scope(loaded_engine) as session:

        def resident_in(town: str) -> int:
            return int(
                session.scalar(
                    select(Resident.id)
                    .join(Town, Town.id == Resident.town_id)
                    .where(Town.code == town, Resident.id_number != accounts["resident"].id_number)
                    .order_by(Resident.id)
                    .limit(1)
                )
            )

        own = session.scalar(
            select(Resident.id).where(Resident.id_number == accounts["resident"].id_number)
        )
        batch = session.scalar(
            select(FeedBatch.id).where(FeedBatch.department == "人社局").order_by(FeedBatch.id)
        )
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"])
        token = auth_service.add_department_token(SYSTEM_ACTOR, session, "人社局")
        return {
            "self": own,
            "town1": resident_in(towns[0]),
            "town2": resident_in(towns[1]),
            "batch": batch,
            "notice": notice.id,
            "department_token": token.token,
        }


@pytest.fixture(scope="module")
def auth_of(
    client: TestClient, accounts: dict[str, Actor], world: dict[str, Any]
) -> dict[str, dict[str, str]]:
    signed = {name: sign_in(client, name) for name in accounts}
    signed["department"] = {"Authorization": f"Bearer {world['department_token']}"}
    signed["public"] = {}
    return signed


# --- through the repositories ---------------------------------------------------------------


def actors(accounts: dict[str, Actor]) -> dict[str, Actor]:
    found = {name: accounts[name] for name in (*STAFF, "health", "edu", "town", "resident")}
    found["public"] = PUBLIC_ACTOR
    found["department"] = Actor("dept:人社局", Role.DEPARTMENT, department="人社局")
    return found


def differences(found: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> str:
    """Each cell of the matrix that differs: what, role, found, expected."""
    return "; ".join(
        f"{what}/{role}: {found[what].get(role)} ≠ {wanted}"
        for what, row in expected.items()
        for role, wanted in row.items()
        if found.get(what, {}).get(role) != wanted
    )


def count(session: Session, statement: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


def test_repositories_reach_what_each_role_may_read(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any], world: dict[str, Any]
) -> None:
    """Counted by the repositories' scoped SQL, and independently in plain SQL."""
    reach = actors(accounts)
    with session_scope(loaded_engine) as session:
        raw = session.connection()
        everyone = raw.execute(text("SELECT count(*) FROM residents")).scalar()
        in_town = raw.execute(
            text(
                "SELECT count(*) FROM residents r JOIN towns t ON t.id = r.town_id "
                "WHERE t.code = :code"
            ),
            {"code": accounts["town"].town_code},
        ).scalar()
        applications = raw.execute(
            text("SELECT count(*) FROM applications WHERE cycle_id = :c"), {"c": cycle["cycle"]}
        ).scalar()
        town_applications = raw.execute(
            text(
                "SELECT count(*) FROM applications a JOIN residents r ON r.id = a.resident_id "
                "JOIN towns t ON t.id = r.town_id WHERE t.code = :code"
            ),
            {"code": accounts["town"].town_code},
        ).scalar()
        batches = raw.execute(text("SELECT count(*) FROM feed_batches")).scalar()
        grouped = text("SELECT department, count(*) FROM feed_batches GROUP BY department")
        batches_of = dict(raw.execute(grouped).tuples().all())
        labour_batches = batches_of["人社局"]
        runs = raw.execute(text("SELECT count(*) FROM allocation_runs")).scalar()
        assert everyone and in_town and applications and batches and labour_batches and runs
        expected: dict[str, dict[str, int]] = {
            "residents": {
                "public": 0, "admin": everyone, "operator": everyone, "auditor": everyone,
                "health": everyone, "edu": everyone, "town": in_town, "resident": 1,
                "department": 0,
            },
            "applications": {
                "public": 0, "admin": applications, "operator": applications,
                "auditor": applications, "health": applications, "edu": 0,
                "town": town_applications, "resident": 1, "department": 0,
            },
            "allocation runs": {
                "public": 0, "admin": runs, "operator": runs, "auditor": runs, "health": runs,
                "edu": 0, "town": 0, "resident": 0, "department": 0,
            },
            "feed batches": {
                "public": 0, "admin": batches, "operator": batches, "auditor": batches,
                "health": batches_of.get("总工会", 0), "edu": batches_of.get("教育局", 0),
                "town": 0, "resident": 0, "department": labour_batches,
            },
        }  # fmt: skip
        statements: dict[str, Callable[[Actor], Any]] = {
            "residents": registry_repository.readable_residents,
            "applications": programs_repository.readable_applications,
            "allocation runs": allocation_repository.readable_runs,
            "feed batches": feeds_repository.readable_batches,
        }
        found = {
            kind: {name: count(session, statement(actor)) for name, actor in reach.items()}
            for kind, statement in statements.items()
        }
    assert found == expected, differences(found, expected)


def test_repositories_reach_what_each_role_may_change(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any], world: dict[str, Any]
) -> None:
    reach = actors(accounts)
    with session_scope(loaded_engine) as session:
        changeable = {
            name: (
                count(session, select(Resident.id).where(registry_repository.writable(actor))),
                count(session, programs_repository.writable_applications(actor)),
                count(session, programs_repository.writable_cycles(actor)),
                count(session, notices_repository.writable_notices(actor)),
            )
            for name, actor in reach.items()
        }
    nothing = (0, 0, 0, 0)
    assert changeable["public"] == nothing
    assert changeable["auditor"] == nothing  # reads everything, changes nothing
    assert changeable["edu"] == nothing  # 总工会's cycle and notice are not 教育局's
    assert changeable["department"] == nothing
    residents, applications, cycles, published = changeable["operator"]
    assert residents > 0 and applications > 0 and cycles > 0 and published > 0
    assert changeable["admin"] == changeable["operator"]
    health = changeable["health"]
    assert health[0] == 0 and health[1] == applications and health[2] > 0 and health[3] > 0
    town = changeable["town"]
    assert 0 < town[0] < residents and town[2] == 0 and town[3] == 0
    assert changeable["resident"][0] == 1 and changeable["resident"][1] == 1
    assert changeable["resident"][2:] == (0, 0)


def test_scoring_runs_are_staff_only(
    loaded_engine: Engine, accounts: dict[str, Actor], world: dict[str, Any]
) -> None:
    reach = actors(accounts)
    with session_scope(loaded_engine) as session:
        visible = {
            name: count(session, scoring_repository.readable_runs(actor))
            for name, actor in reach.items()
        }
    assert visible["public"] == 0 and visible["department"] == 0
    assert visible["operator"] == visible["auditor"] == visible["admin"] > 0


# --- through HTTP ---------------------------------------------------------------------------

# role → expected status, per read. "public" is nobody signed in.
READS: dict[str, Callable[[dict[str, Any]], str]] = {
    "resident of town 1": lambda w: f"/api/v1/residents/{w['town1']}",
    "resident of town 2": lambda w: f"/api/v1/residents/{w['town2']}",
    "own record": lambda w: f"/api/v1/residents/{w['self']}",
    "own application": lambda w: f"/api/v1/applications/{w['mine']}",
    "allocation run": lambda w: f"/api/v1/allocation-runs/{w['run']}",
    "scoring runs": lambda w: "/api/v1/scoring-runs",
    "feed batch (人社局)": lambda w: f"/api/v1/feeds/batches/{w['batch']}",
    "notice": lambda w: f"/api/v1/notices/{w['notice']}",
    "audit log": lambda w: "/api/v1/audit",
}
READ_EXPECTED: dict[str, dict[str, int]] = {
    #                      public admin oper audit health edu town town2 resid dept
    "resident of town 1": dict(zip(ROLES, (404, 200, 200, 200, 200, 200, 200, 404, 404, 404), strict=True)),
    "resident of town 2": dict(zip(ROLES, (404, 200, 200, 200, 200, 200, 404, 200, 404, 404), strict=True)),
    "own record": dict(zip(ROLES, (404, 200, 200, 200, 200, 200, 200, 404, 200, 404), strict=True)),
    "own application": dict(zip(ROLES, (401, 200, 200, 200, 200, 404, 200, 404, 200, 403), strict=True)),
    "allocation run": dict(zip(ROLES, (401, 200, 200, 200, 200, 404, 403, 403, 403, 403), strict=True)),
    "scoring runs": dict(zip(ROLES, (401, 200, 200, 200, 200, 200, 200, 200, 403, 403), strict=True)),
    "feed batch (人社局)": dict(zip(ROLES, (401, 200, 200, 200, 404, 404, 403, 403, 403, 200), strict=True)),
    "notice": dict(zip(ROLES, (200, 200, 200, 200, 200, 200, 200, 200, 200, 200), strict=True)),
    "audit log": dict(zip(ROLES, (401, 200, 403, 200, 403, 403, 403, 403, 403, 403), strict=True)),
}  # fmt: skip


def test_reads_by_role_over_http(
    client: TestClient,
    auth_of: dict[str, dict[str, str]],
    world: dict[str, Any],
    cycle: dict[str, Any],
) -> None:
    objects = {**world, **cycle}
    found = {
        what: {role: client.get(url(objects), headers=auth_of[role]).status_code for role in ROLES}
        for what, url in READS.items()
    }
    assert found == READ_EXPECTED, differences(found, READ_EXPECTED)


WRITES: dict[str, tuple[str, Callable[[dict[str, Any]], str], dict[str, Any]]] = {
    "verify an application of 总工会": (
        "post",
        lambda w: f"/api/v1/applications/{w['other']}/verification",
        {"approve": True},
    ),
    "allocate the cycle": ("post", lambda w: f"/api/v1/program-cycles/{w['cycle']}/runs", {"seed": "m"}),
    "correct a resident of town 2": ("patch", lambda w: f"/api/v1/residents/{w['town2']}", {"phone": "13800138000"}),
    "publish a notice": ("post", lambda w: "/api/v1/notices", {"allocation_run_id": lambda w: w["run"]}),
    "finalise the cycle": ("post", lambda w: f"/api/v1/program-cycles/{w['cycle']}/finalize", {}),
}  # fmt: skip
OK = "ok"
"""In scope and allowed: done (200), or refused by the object's state (409: an application
already decided by the run, a run already published) — either way past the scope."""
WRITE_EXPECTED: dict[str, dict[str, int | str]] = {
    #                                public admin oper audit health edu town town2 resid dept
    "verify an application of 总工会": dict(zip(ROLES, (401, OK, 403, 403, OK, 404, 403, 403, 403, 403), strict=True)),
    "allocate the cycle": dict(zip(ROLES, (401, OK, OK, 403, 403, 403, 403, 403, 403, 403), strict=True)),
    "correct a resident of town 2": dict(zip(ROLES, (401, OK, OK, 403, 403, 403, 404, OK, 403, 403), strict=True)),
    "publish a notice": dict(zip(ROLES, (401, OK, OK, 403, 403, 403, 403, 403, 403, 403), strict=True)),
    "finalise the cycle": dict(zip(ROLES, (401, OK, OK, 403, 403, 403, 403, 403, 403, 403), strict=True)),
}  # fmt: skip


def test_writes_by_role_over_http(
    client: TestClient,
    auth_of: dict[str, dict[str, str]],
    world: dict[str, Any],
    cycle: dict[str, Any],
) -> None:
    objects = {**world, **cycle}
    found: dict[str, dict[str, int | str]] = {}
    for what, (method, url, body) in WRITES.items():
        found[what] = {}
        for role in ROLES:
            payload = {
                key: (value(objects) if callable(value) else value) for key, value in body.items()
            }
            response = client.request(
                method.upper(), url(objects), json=payload, headers=auth_of[role]
            )
            status = response.status_code
            found[what][role] = OK if status in (200, 409) else status
    assert found == WRITE_EXPECTED, differences(found, WRITE_EXPECTED)
