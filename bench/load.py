"""Load on a real ``luodi serve``: a bounded generator (httpx, asyncio), ``--clients`` concurrent
clients for ``--seconds`` per route, against SQLite and PostgreSQL holding a synthetic city
(100,000 residents by default), scored and with its scoring run published as a notice.

Routes: health; a notice as JSON (first page) and as HTML; a resident's own score; sign-in;
a staff member's resident list. Prints requests/s, p50/p95/p99 and errors per route, and
writes the table into docs/benchmarks.md (section "Load"). Errors must be 0.

    python bench/load.py [--residents 100000] [--clients 20] [--seconds 60] [--databases sqlite postgres]

``--console``: the staff console's pages instead (section "Load: staff console"), on the city
``luodi demo`` builds (scored, its programs' cycles applied for, allocated, published), each of
``--clients`` staff signed in through the login form with a session cookie, as a browser is.

    python bench/load.py --console [--residents 100000] [--clients 10] [--seconds 60]

``--portal``: the resident's portal (section "Load: resident portal"): ``--clients`` residents
(50 by default) picked at random among those the newest scoring run scored, each with an
account bound to their ID number (``auth.service.add_user``) and signed in through the login
form, loading ``/my`` and ``/my/points`` in turn for ``--seconds``; on a city ``luodi synth``,
``load`` and ``score`` build, or on a scored database already there (``--database-url``).

    python bench/load.py --portal [--residents 100000 | --database-url URL] [--clients 50]

Every request goes to 127.0.0.1; the loop is bounded in count and time and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from bench.residents import PASSWORD as PORTAL_PASSWORD
from bench.residents import resident_accounts, scored_residents
from luodi.db import create_db_engine

ROOT = Path(__file__).resolve().parent.parent
LUODI = str(ROOT / ".venv" / "bin" / "luodi")
POSTGRES = os.environ.get(
    "LUODI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "load-test-password-1"
AS_OF = "2026-03-01"
MAX_REQUESTS_PER_ROUTE = 200_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def luodi(environment: dict[str, str], *arguments: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [LUODI, *arguments],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"luodi {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'load.db'}"
        return
    schema = f"bench_load_{os.getpid()}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in POSTGRES else "?"
        yield f"{POSTGRES}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def scored_resident(url: str) -> str:
    """The ID number of a resident the scoring run scored (not everybody is: no valid permit,
    no score), so that "my score" measures an answer, not a 404."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(
                    text(
                        "SELECT r.id_number FROM residents r JOIN resident_scores s "
                        "ON s.resident_id = r.id ORDER BY r.id LIMIT 1"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def prepare(environment: dict[str, str], city: Path, clients: int) -> str:
    """Migrate, load, score, publish the scoring run, add an operator, a resident and an
    account per client for sign-in; returns the resident's ID number."""
    luodi(environment, "db", "upgrade")
    luodi(environment, "load", str(city))
    luodi(environment, "score", "--policy", "zj-cixi", "--as-of", AS_OF)
    luodi(environment, "notice", "publish", "--scoring-run", "1")
    number = scored_resident(environment["LUODI_DATABASE_URL"])
    for name in ("operator1", *(f"staff{number:02d}" for number in range(clients))):
        luodi(
            environment, "user", "add", name, "--role", "operator", "--password-stdin",
            stdin=PASSWORD,
        )  # fmt: skip
    luodi(
        environment,
        "user",
        "add",
        "resident1",
        "--role",
        "resident",
        "--id-number",
        number,
        "--password-stdin",
        stdin=PASSWORD,
    )
    return number


@contextmanager
def serve(environment: dict[str, str], command: list[str] | None = None) -> Iterator[str]:
    """``luodi serve`` on a free port (``command``: how to run luodi, default ``LUODI``)."""
    port = free_port()
    server = subprocess.Popen(
        [*(command or [LUODI]), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("luodi serve did not answer within 60 s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def token(base: str, username: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
"""One request of a route, by the client numbered by the second argument."""


async def hammer(
    base: str, send: Send, clients: int, seconds: float
) -> tuple[list[float], int, Counter[str]]:
    """``clients`` loops sending one request after another for ``seconds``: latencies (ms),
    requests, errors by kind (any status ≥ 400, or a transport error)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    stop = time.monotonic() + seconds

    async def client_loop(number: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while time.monotonic() < stop and len(latencies) < MAX_REQUESTS_PER_ROUTE:
                started = time.perf_counter()
                try:
                    response = await send(client, number)
                    if response.status_code >= 400:
                        errors[str(response.status_code)] += 1
                except httpx.HTTPError as error:
                    errors[type(error).__name__] += 1
                latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client_loop(number) for number in range(clients)))
    return latencies, len(latencies), errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def routes(base: str) -> dict[str, Send]:
    operator = {"Authorization": f"Bearer {token(base, 'operator1')}"}
    resident = {"Authorization": f"Bearer {token(base, 'resident1')}"}
    me = httpx.get(f"{base}/api/v1/residents", params={"limit": 1}, headers=resident, timeout=30)
    me.raise_for_status()
    resident_id = me.json()[0]["id"] if isinstance(me.json(), list) else me.json()["items"][0]["id"]
    notice = httpx.get(f"{base}/api/v1/notices", timeout=30).json()[0]["id"]
    return {
        "GET /api/v1/health": lambda c, _: c.get("/api/v1/health"),
        "GET /api/v1/notices/{id} (JSON)": lambda c, _: c.get(f"/api/v1/notices/{notice}"),
        "GET /notices/{id} (HTML)": lambda c, _: c.get(f"/notices/{notice}"),
        "GET /api/v1/residents/{id}/score (own)": lambda c, _: c.get(
            f"/api/v1/residents/{resident_id}/score", headers=resident
        ),
        # One account per client: one account signing in from one address more than five
        # times at once is held back by the throttle (429, Retry-After: 1) by design.
        "POST /api/v1/auth/token": lambda c, number: c.post(
            "/api/v1/auth/token", data={"username": f"staff{number:02d}", "password": PASSWORD}
        ),
        "GET /api/v1/residents?limit=50 (staff)": lambda c, _: c.get(
            "/api/v1/residents", params={"limit": 50}, headers=operator
        ),
    }


def prepare_console(environment: dict[str, str], residents: int, clients: int) -> None:
    """The demo city (everything a console page shows) and one operator per client."""
    luodi(environment, "demo", "--residents", str(residents), "--no-serve", "--force")
    for number in range(clients):
        luodi(
            environment, "user", "add", f"staff{number:02d}", "--role", "operator",
            "--password-stdin", stdin=PASSWORD,
        )  # fmt: skip


def page_session(base: str, username: str, password: str = PASSWORD) -> httpx.Cookies:
    """Signed in through the login form: the session and CSRF cookies a browser would hold."""
    with httpx.Client(base_url=base, timeout=60) as client:
        client.get("/login").raise_for_status()
        answer = client.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": client.cookies.get("luodi_csrf") or "",
            },
        )
        if answer.status_code != 303:
            raise SystemExit(f"{username} could not sign in: {answer.status_code}")
        return client.cookies


def console_pages(base: str) -> dict[str, str]:
    """The console's pages an operator works in (name → URL; the audit log is the auditor's
    and the administrator's), with the ids of objects the demo made."""
    operator = {"Authorization": f"Bearer {token(base, 'staff00')}"}

    def first(path: str, **params: object) -> int:
        found = httpx.get(f"{base}{path}", params=params, headers=operator, timeout=60).json()
        items = found if isinstance(found, list) else found["items"]
        return int(items[0]["id"])

    resident = first("/api/v1/residents", limit=1)
    cycle = first("/api/v1/program-cycles")
    return {
        "/console": "/console",
        "/console/residents?name=": "/console/residents?name=%E7%8E%8B",
        "/console/residents/{id}": f"/console/residents/{resident}",
        "/console/feeds": "/console/feeds",
        "/console/scoring": "/console/scoring",
        "/console/scoring/{id}": "/console/scoring/1",
        "/console/cycles": "/console/cycles",
        "/console/cycles/{id}": f"/console/cycles/{cycle}",
        "/console/cycles/{id}/runs (HTMX)": f"/console/cycles/{cycle}/runs",
        "/console/runs/{id}": "/console/runs/1",
        "/console/objections": "/console/objections",
        "/console/policies": "/console/policies",
    }


async def staff_at_work(
    base: str, pages: dict[str, str], jars: list[httpx.Cookies], seconds: float
) -> tuple[dict[str, list[float]], Counter[str]]:
    """Each signed-in staff member loads the pages one after another, starting at a different
    page, for ``seconds``: latencies (ms) per page, errors by page and kind."""
    latencies: dict[str, list[float]] = {name: [] for name in pages}
    errors: Counter[str] = Counter()
    names = list(pages)
    stop = time.monotonic() + seconds

    async def one(number: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, cookies=jars[number]) as client:
            step = number
            while time.monotonic() < stop:
                name = names[step % len(names)]
                step += 1
                headers = {"HX-Request": "true"} if "(HTMX)" in name else {}
                started = time.perf_counter()
                try:
                    answer = await client.get(pages[name], headers=headers)
                    if answer.status_code >= 400:
                        errors[f"{name}: {answer.status_code}"] += 1
                except httpx.HTTPError as error:
                    errors[f"{name}: {type(error).__name__}"] += 1
                latencies[name].append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one(number) for number in range(len(jars))))
    return latencies, errors


def console_main(options: argparse.Namespace) -> None:
    rows: list[list[str]] = []
    total_errors = 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for kind in options.databases:
            with database(kind, folder) as url:
                environment = {
                    **os.environ,
                    "LUODI_DATABASE_URL": url,
                    "LUODI_DATA_DIR": str(folder / kind),
                }
                started = time.perf_counter()
                prepare_console(environment, options.residents, options.clients)
                print(f"{kind}: demo city ready in {time.perf_counter() - started:.0f} s")
                with serve(environment) as base:
                    pages = console_pages(base)
                    jars = [
                        page_session(base, f"staff{number:02d}")
                        for number in range(options.clients)
                    ]
                    latencies, errors = asyncio.run(
                        staff_at_work(base, pages, jars, options.seconds)
                    )
                    total_errors += sum(errors.values())
                    for name, values in latencies.items():
                        failed = sum(n for key, n in errors.items() if key.startswith(name + ":"))
                        row = [
                            kind,
                            name,
                            f"{len(values):,}",
                            f"{percentile(values, 0.50):.0f}",
                            f"{percentile(values, 0.95):.0f}",
                            f"{percentile(values, 0.99):.0f}",
                            str(failed),
                        ]
                        print(" | ".join(row), flush=True)
                        rows.append(row)
                    if errors:
                        print("errors:", dict(errors))
    table = markdown_table(
        ["database", "page", "loads", "p50 ms", "p95 ms", "p99 ms", "errors"], rows
    )
    body = (
        f"`python bench/load.py --console --residents {options.residents} --clients "
        f"{options.clients} --seconds {options.seconds:g}`: {options.clients} staff signed in "
        "through the login form (session cookies), each loading the console's pages one after "
        f"another for {options.seconds:g} s, on the city `luodi demo --residents "
        f"{options.residents}` builds (scored, its programs applied for, allocated, published); "
        "one `luodi serve` process (uvicorn, one worker, the job worker idle) and the load "
        "generator on the same 2 cores.\n\n" + table
    )
    print(table)
    write_section("Load: staff console", body)
    if total_errors:
        raise SystemExit(f"{total_errors} errors under load (must be 0)")


PORTAL_PAGES = ("/my", "/my/points")


def portal_main(options: argparse.Namespace) -> None:
    # The checkout's own code (a worktree has no .venv of its own): this interpreter, with
    # this checkout's src first (or PYTHONPATH as given).
    command = [sys.executable, "-m", "luodi"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        environment = {
            **os.environ,
            "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT / "src"),
            "LUODI_DATA_DIR": str(folder / "data"),
        }
        url = options.database_url
        started = time.perf_counter()
        if url is None:
            url = f"sqlite:///{folder / 'portal.db'}"
            environment["LUODI_DATABASE_URL"] = url
            for arguments in (
                ["synth", "--residents", str(options.residents), "--seed", "2026",
                 "--out", str(folder / "city"), "--as-of", AS_OF],
                ["db", "upgrade"],
                ["load", str(folder / "city")],
                ["score", "--policy", "zj-cixi", "--as-of", AS_OF],
            ):  # fmt: skip
                done = subprocess.run(
                    [*command, *arguments], env=environment, capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SystemExit(f"luodi {' '.join(arguments)} failed:\n{done.stderr}")
        environment["LUODI_DATABASE_URL"] = url
        engine = create_engine(url)
        with engine.connect() as connection:
            population = int(connection.execute(text("SELECT count(*) FROM residents")).scalar())
        engine.dispose()
        database = create_db_engine(url)
        _, residents = scored_residents(database, options.clients, options.seed)
        names = resident_accounts(database, residents)
        database.dispose()
        print(f"{population:,} residents, {len(names)} accounts ready in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        load_before = os.getloadavg()[0]
        with serve(environment, command) as base:
            jars = [page_session(base, name, PORTAL_PASSWORD) for name in names]
            pages = {page: page for page in PORTAL_PAGES}
            latencies, errors = asyncio.run(staff_at_work(base, pages, jars, options.seconds))
        load_after = os.getloadavg()[0]
    rows = []
    for name, values in latencies.items():
        failed = sum(n for key, n in errors.items() if key.startswith(name + ":"))
        rows.append(
            [
                name,
                f"{len(values):,}",
                f"{len(values) / options.seconds:,.1f}",
                f"{percentile(values, 0.50):.0f}",
                f"{percentile(values, 0.95):.0f}",
                f"{percentile(values, 0.99):.0f}",
                str(failed),
            ]
        )
    table = markdown_table(
        ["page", "loads", "loads/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows
    )
    print(table)
    if errors:
        print("errors:", dict(errors))
    where = (
        f"a scored database of {population:,} residents (`--database-url`)"
        if options.database_url
        else f"the city `luodi synth --residents {options.residents}` writes, loaded and scored"
    )
    body = (
        f"`python bench/load.py --portal --clients {options.clients} --seconds "
        f"{options.seconds:g}` on {where} ({make_url(url).get_backend_name()}): "
        f"{len(names)} residents picked at random among those the newest scoring run scored, "
        "each with a resident account bound to their ID number, signed in through the login "
        "form (session cookie, as a browser), loading `/my` and `/my/points` in turn for "
        f"{options.seconds:g} s; one `luodi serve` process (uvicorn, one worker, the job "
        "worker idle) and the load generator on the same "
        f"{os.cpu_count()} cores. Load average (1 min) {load_before:.1f} before, "
        f"{load_after:.1f} after, the machine shared with other work. Latency is as the "
        "client sees it: with 50 clients on one server process, most of it is the wait in "
        'the server\'s queue (the server time of one page: section "Resident pages"). '
        "Errors must be 0." + (f"\n\n{options.note}" if options.note else "") + "\n\n" + table
    )
    write_section("Load: resident portal", body)
    if errors:
        raise SystemExit(f"{sum(errors.values())} errors under load (must be 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--console", action="store_true", help="the staff console's pages")
    parser.add_argument("--portal", action="store_true", help="the resident portal's pages")
    parser.add_argument("--database-url", help="--portal: a scored database already there")
    parser.add_argument("--seed", type=int, default=17, help="--portal: residents picked")
    parser.add_argument("--note", default="", help="--portal: a sentence on the conditions")
    options = parser.parse_args()
    if options.portal:
        options.clients = options.clients or 50
        portal_main(options)
        return
    if options.console:
        options.clients = options.clients or 10
        console_main(options)
        return
    options.clients = options.clients or 20
    rows: list[list[str]] = []
    total_errors = 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        city = folder / "city"
        luodi(
            dict(os.environ),
            "synth",
            "--residents",
            str(options.residents),
            "--seed",
            "11",
            "--out",
            str(city),
            "--as-of",
            AS_OF,
        )
        for kind in options.databases:
            with database(kind, folder) as url:
                environment = {**os.environ, "LUODI_DATABASE_URL": url}
                started = time.perf_counter()
                prepare(environment, city, options.clients)
                print(f"{kind}: city ready in {time.perf_counter() - started:.0f} s", flush=True)
                with serve(environment) as base:
                    for name, send in routes(base).items():
                        latencies, count, errors = asyncio.run(
                            hammer(base, send, options.clients, options.seconds)
                        )
                        total_errors += sum(errors.values())
                        row = [
                            kind,
                            name,
                            f"{count / options.seconds:,.0f}",
                            f"{percentile(latencies, 0.50):.0f}",
                            f"{percentile(latencies, 0.95):.0f}",
                            f"{percentile(latencies, 0.99):.0f}",
                            ", ".join(f"{n} × {kind}" for kind, n in errors.items()) or "0",
                        ]
                        print(" | ".join(row), flush=True)
                        rows.append(row)
    table = markdown_table(
        ["database", "route", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows
    )
    body = (
        f"`python bench/load.py --residents {options.residents} --clients {options.clients} "
        f"--seconds {options.seconds:g}`: one `luodi serve` process (uvicorn, one worker) and "
        "the load generator on the same 2 cores, so the generator's own CPU is in the numbers.\n\n"
        + table
    )
    print(table)
    write_section("Load", body)
    if total_errors:
        raise SystemExit(f"{total_errors} errors under load (must be 0)")


if __name__ == "__main__":
    main()
