"""Server time of a resident's pages (issue 17: under 50 ms at 1,000,000 residents): the
service calls ``/my`` and ``/my/points`` are made of, then the pages themselves in process
(``TestClient``, each resident signed in through the login form with a session cookie), for
residents picked at random among those the newest scoring run scored.

    python bench/portal.py --database-url sqlite:////path/to/scored-city.db [--sample 100]
    python bench/portal.py --residents 100000        # builds, loads and scores a city first

Each resident is read twice: *first view* (nothing of theirs computed in this process yet)
and *again* (what ``luodi.kernels.small`` keeps of their kernels' results). Wall and CPU time
(the process's, all threads) per step, median and p95 over the sample.

``--explain``: the query plan of every statement one resident's score reads (SQLite's EXPLAIN
QUERY PLAN or PostgreSQL's EXPLAIN), to check each is an indexed lookup.

Writes the table into docs/benchmarks.md (section "Resident pages at N residents").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from bench.residents import PASSWORD, resident_accounts, scored_residents
from luodi import workdays
from luodi.auth.actor import Actor, Role
from luodi.db import create_db_engine
from luodi.registry import service as registry_service
from luodi.scoring import service as scoring_service
from luodi.web.portal import own_resident_id

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-03-01"
PAGES = ("/my", "/my/points")


@dataclass
class Timings:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall.setdefault(name, []).append((time.perf_counter() - wall) * 1000)
            self.cpu.setdefault(name, []).append((time.process_time() - cpu) * 1000)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def build_city(residents: int, folder: Path) -> str:
    """Synthesise, load and score a city in ``folder``; its database URL."""
    url = f"sqlite:///{folder / 'portal.db'}"
    environment = {**os.environ, "LUODI_DATABASE_URL": url, "LUODI_DATA_DIR": str(folder)}
    for arguments in (
        ["synth", "--residents", str(residents), "--seed", "2026", "--out", str(folder / "city")],
        ["db", "upgrade"],
        ["load", str(folder / "city")],
        ["score", "--policy", "zj-cixi", "--as-of", AS_OF],
    ):
        subprocess.run(
            [sys.executable, "-m", "luodi", *arguments],
            check=True,
            capture_output=True,
            cwd=ROOT,
            env=environment,
        )
    return url


def page_calls(
    timings: Timings, session: Session, actor: Actor, run_id: int, today: Any, prefix: str
) -> None:
    """What the two pages read for one resident, step by step (in one session, as a request)."""
    with timings.step(f"{prefix}all service calls"):
        with timings.step(f"{prefix}own_resident_id"):
            resident_id = own_resident_id(actor, session)
        with timings.step(f"{prefix}score_history"):
            scoring_service.score_history(actor, session, resident_id)
        with timings.step(f"{prefix}stored_scores (one resident)"):
            scoring_service.stored_scores(actor, session, [resident_id], run_id=run_id)
        with timings.step(f"{prefix}resident_score"):
            scoring_service.resident_score(actor, session, resident_id)
        with timings.step(f"{prefix}residence_span (today)"):
            registry_service.residence_span(actor, session, resident_id, today)


def services(engine: Engine, run_id: int, picked: list[tuple[int, str]]) -> Timings:
    timings = Timings()
    today = workdays.today()
    for view in ("first view: ", "again: "):
        for _, id_number in picked:
            actor = Actor(username="bench", role=Role.RESIDENT, id_number=id_number)
            with Session(engine) as session:
                page_calls(timings, session, actor, run_id, today, view)
    return timings


def sign_in(client: Any, username: str) -> None:
    """Through the login form, as a browser: the session and CSRF cookies."""
    client.cookies.clear()
    client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": client.cookies.get("luodi_csrf") or "",
        },
        follow_redirects=False,
    )
    if answer.status_code != 303:
        raise SystemExit(f"{username} could not sign in: {answer.status_code}")


def pages(engine: Engine, picked: list[tuple[int, str]], probe: tuple[int, str]) -> Timings:
    """Each page for each resident, signed in through /login (session cookie), first view
    then again. ``probe``: a resident outside the sample who finds out which pages this
    checkout serves (a page still to come answers 404)."""
    from fastapi.testclient import TestClient

    from luodi.app import create_app

    names = resident_accounts(engine, [*picked, probe])
    timings = Timings()
    with TestClient(create_app(engine)) as client:
        sign_in(client, names[-1])
        shown = [page for page in PAGES if client.get(page).status_code != 404]
        for view in ("first view: ", "again: "):
            for name in names[:-1]:
                sign_in(client, name)
                for page in shown:
                    with timings.step(f"{view}GET {page}"):
                        response = client.get(page)
                    if response.status_code != 200:
                        raise SystemExit(f"GET {page} as {name}: {response.status_code}")
    return timings


def explain(engine: Engine, run_id: int, picked: list[tuple[int, str]]) -> list[str]:
    """The plan of each distinct statement of one resident's page calls."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    id_number = picked[0][1]
    actor = Actor(username="bench", role=Role.RESIDENT, id_number=id_number)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as session:
            page_calls(Timings(), session, actor, run_id, workdays.today(), "")
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    lines = []
    seen = set()
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        for statement, parameters in statements:
            if statement in seen:
                continue
            seen.add(statement)
            plan = connection.exec_driver_sql(prefix + statement, parameters).all()
            lines.append(" ".join(statement.split())[:300])
            lines += [f"    {' | '.join(str(cell) for cell in row)}" for row in plan]
    return lines


def rows_of(timings: Timings) -> list[list[str]]:
    rows = []
    for name, walls in timings.wall.items():
        cpus = timings.cpu[name]
        rows.append(
            [
                name,
                f"{statistics.median(walls):.1f}",
                f"{p95(walls):.1f}",
                f"{statistics.median(cpus):.1f}",
                f"{p95(cpus):.1f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a scored city (else one is built)")
    parser.add_argument("--residents", type=int, default=100_000, help="city size to build")
    parser.add_argument("--sample", type=int, default=100, help="residents picked at random")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-pages", action="store_true", help="the service calls only")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument("--note", default="", help="a sentence on the conditions, recorded")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = options.database_url or build_city(options.residents, Path(scratch))
        engine = create_db_engine(url)
        with engine.connect() as connection:
            population = int(connection.execute(text("SELECT count(*) FROM residents")).scalar())
        # The service calls and the pages each their own residents (a page's first view is
        # then a first view), and one more who finds out which pages are served (``pages``).
        size = options.sample
        run_id, found = scored_residents(engine, 2 * size + 1, options.seed)
        picked, for_pages, probe = found[:size], found[size : 2 * size], found[-1]
        if options.explain:
            print("\n".join(explain(engine, run_id, picked)))
        load_before = os.getloadavg()[0]
        measured: list[tuple[str, Timings]] = [("service", services(engine, run_id, picked))]
        if not options.no_pages:
            measured.append(("page", pages(engine, for_pages, probe)))
        load_after = os.getloadavg()[0]
        engine.dispose()
    rows = [[kind, *row] for kind, timings in measured for row in rows_of(timings)]
    headers = ["kind", "step", "wall p50 ms", "wall p95 ms", "CPU p50 ms", "CPU p95 ms"]
    table = markdown_table(headers, rows)
    print(table)
    if options.no_record:
        return
    database = url.split(":", 1)[0].split("+", 1)[0]
    body = (
        f"`python bench/portal.py --sample {options.sample}` on a scored city of "
        f"{population:,} residents ({database}; `luodi synth` seed 2026, `luodi load`, "
        f"`luodi score --policy zj-cixi --as-of {AS_OF}`): twice {len(picked)} residents "
        "picked at random among those the newest run scored, each read as a signed-in "
        "resident would be, in process: *service* rows are the calls `/my` and `/my/points` "
        f"are made of for the first {len(picked)}, each resident in a session of their own; "
        "*page* rows the pages for the others through `TestClient` (signed in through "
        "`/login`, session cookie; TestClient's own time included). *First "
        "view*: nothing of that resident computed in this process yet; *again*: the same "
        "residents a second time (`luodi.kernels.small` keeps kernels' results on small "
        "inputs). Wall time and CPU time of the process (all threads). Load average (1 min) "
        f"{load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} cores shared "
        f"with other work. Target (issue 17): a resident's pages under 50 ms of server time."
        + (f"\n\n{options.note}" if options.note else "")
        + f"\n\n{table}"
    )
    write_section(f"Resident pages at {population:,} residents", body)


if __name__ == "__main__":
    main()
