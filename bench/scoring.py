"""Score a synthetic city from the registry (`luodi score`) on SQLite and PostgreSQL, beside
the same inputs scored from a Parquet file (`luodi policy score`); print and record both, the
parts of the registry path, and reading a stored run back (one resident's score, an
allocation's worth of residents).

    python bench/scoring.py [--residents 100000] [--skip-postgres]

Target (issue 14): `luodi score` within 3× the file path on the 1,000,000-resident city.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.facts import service as facts_service
from luodi.kernels.policy import KEY
from luodi.policy.service import find_policy
from luodi.registry import repository as registry_repository
from luodi.registry import service as registry_service
from luodi.registry.loading import load_city
from luodi.scoring import service as scoring_service
from luodi.scoring.inputs import build_inputs, fact_sources
from luodi.scoring.models import ResidentScore
from luodi.synth.generator import SynthOptions
from luodi.synth.service import write_city

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "LUODI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POLICY = "zj-cixi"
AS_OF = date(2026, 3, 1)
ALLOCATION_READ = 12_600
"""Residents an allocation reads back (the 1M city's school applications)."""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command(arguments: list[str], database_url: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one luodi command in a new process."""
    environment = dict(os.environ)
    if database_url is not None:
        environment["LUODI_DATABASE_URL"] = database_url
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        [sys.executable, "-m", "luodi", *arguments],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env=environment,
    )
    return time.perf_counter() - started, children_cpu() - cpu


def parts(url: str) -> dict[str, float]:
    """The registry path in process, step by step (rolled back: nothing stored)."""
    engine = create_db_engine(url)
    compiled = find_policy(POLICY, AS_OF)
    read = fact_sources(compiled.policy)
    times: dict[str, float] = {}
    with Session(engine) as session:
        cpu = time.process_time()
        facts = facts_service.current_fact_rows(SYSTEM_ACTOR, session, read.variables, AS_OF)
        times["fact rows"] = time.process_time() - cpu
        times["fact count"] = facts.height
        cpu = time.process_time()
        registry_service.scoring_population(SYSTEM_ACTOR, session, AS_OF, facts)
        times["population"] = time.process_time() - cpu
        cpu = time.process_time()
        facts_service.insurance_as_of(SYSTEM_ACTOR, session, read.kinds, AS_OF, facts=facts)
        times["insurance"] = time.process_time() - cpu
        del facts

        marks: list[tuple[str, float]] = [("start", time.process_time())]
        scoring_service.score_registry(
            SYSTEM_ACTOR,
            session,
            compiled,
            AS_OF,
            progress=lambda say: marks.append((say, time.process_time())),
        )
        marks.append(("end", time.process_time()))
        steps = dict(zip([m[0][:2] for m in marks], [m[1] for m in marks], strict=True))
        times["inputs"] = steps["计分"] - steps["读取"]
        times["score"] = steps["保存"] - steps["计分"]
        times["store"] = steps["en"] - steps["保存"]
        session.rollback()

        # Reading a stored run back (the one `luodi score` committed).
        run_id = session.scalar(text("SELECT max(id) FROM scoring_runs"))
        ids = list(
            session.scalars(select(ResidentScore.resident_id).where(ResidentScore.run_id == run_id))
        )
        step = max(1, len(ids) // 20)
        single = []
        for resident_id in ids[::step][:20]:
            started = time.perf_counter()
            scoring_service.resident_score(SYSTEM_ACTOR, session, resident_id, run_id)
            single.append(time.perf_counter() - started)
        times["one score"] = statistics.median(single)
        picked = ids[:: max(1, len(ids) // ALLOCATION_READ)][:ALLOCATION_READ]
        started = time.perf_counter()
        read = scoring_service.stored_scores(SYSTEM_ACTOR, session, picked, run_id=run_id)
        times["allocation read"] = time.perf_counter() - started
        assert read.frame.height == len(picked)
    engine.dispose()
    return times


def inputs_file(url: str, path: Path) -> None:
    """The inputs `luodi score` reads from the registry, as a Parquet file."""
    engine = create_db_engine(url)
    compiled = find_policy(POLICY, AS_OF)
    with Session(engine) as session:
        total = registry_repository.resident_count(session, SYSTEM_ACTOR)
        build_inputs(SYSTEM_ACTOR, session, compiled.policy, AS_OF, total).frame.sort(
            KEY
        ).write_parquet(path)
    engine.dispose()


def measure(label: str, url: str, city: Path, folder: Path, runs: int) -> list[str]:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        load_city(SYSTEM_ACTOR, session, city)
    engine.dispose()
    registry = min(
        command(["score", "--policy", POLICY, "--as-of", str(AS_OF)], url) for _ in range(runs)
    )
    source = folder / f"inputs-{label}.parquet"
    inputs_file(url, source)
    policy_file = find_policy(POLICY, AS_OF).policy
    yaml = ROOT / "policies" / POLICY / f"{policy_file.version}.yaml"
    from_file = min(
        command(
            [
                "policy",
                "score",
                "--policy",
                str(yaml),
                "--input",
                str(source),
                "--output",
                str(folder / "out.parquet"),
                "--as-of",
                str(AS_OF),
            ]
        )
        for _ in range(runs)
    )
    steps = parts(url)
    row = [
        label,
        f"{steps['fact count']:,.0f}",
        f"{registry[0]:.2f} s ({registry[1]:.2f} s)",
        f"{from_file[0]:.2f} s ({from_file[1]:.2f} s)",
        f"{registry[0] / from_file[0]:.1f}× ({registry[1] / from_file[1]:.1f}×)",
        f"{steps['fact rows']:.2f} s",
        f"{steps['population']:.2f} s",
        f"{steps['insurance']:.2f} s",
        f"{steps['inputs']:.2f} s",
        f"{steps['score']:.2f} s",
        f"{steps['store']:.2f} s",
        f"{steps['one score'] * 1000:.0f} ms",
        f"{steps['allocation read'] * 1000:.0f} ms",
    ]
    print(" | ".join(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="best of N commands")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="print only")
    arguments = parser.parse_args()
    n = arguments.residents
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        city = folder / "city"
        write_city(SynthOptions(residents=n, seed=2026), city)
        rows.append(
            measure("SQLite", f"sqlite:///{folder / 'bench.db'}", city, folder, arguments.runs)
        )
        if not arguments.skip_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(POSTGRES_URL)
            with admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
                rows.append(measure("PostgreSQL", url, city, folder, arguments.runs))
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    headers = [
        "database",
        "fact rows read",
        "`luodi score` (registry): wall (CPU)",
        "`luodi policy score` (Parquet file): wall (CPU)",
        "registry / file",
        "fact rows (CPU)",
        "population (CPU)",
        "insurance (CPU)",
        "all inputs (CPU)",
        "points (CPU)",
        "store run (CPU)",
        "one resident's score (wall)",
        f"allocation reads {ALLOCATION_READ:,} (wall)",
    ]
    table = markdown_table(headers, rows)
    print(table)
    if arguments.no_record:
        return
    write_section(
        f"scoring from the registry ({n:,} residents)",
        f"`python bench/scoring.py --residents {n}`: a synthetic city of {n:,} residents "
        f"(`luodi synth`, seed 2026) loaded into each database, scored with `{POLICY}` as of "
        f"{AS_OF}. *Registry* is the whole `luodi score` command in a new process (read the "
        "registry and the facts, score, store the run); *file* is `luodi policy score` on the "
        "same inputs written to Parquet (read, check, score, write Parquet); wall time and, in "
        "brackets, the command's CPU time (PostgreSQL's own CPU not included). The other "
        "columns are the CPU time of the registry path's steps in process: reading every "
        "current fact the inputs come from, once (insurance records, endorsements, the other "
        "variables: on PostgreSQL a CSV text per 5,000 residents that the server joins in "
        "fact id order, on SQLite JSON arrays per 200,000 fact ids), the population (registry "
        "reads and the permit time line over the endorsements read), insurance by month from "
        "the facts read, all inputs together (all of these, and sums and latest values), the "
        "points, "
        "storing the run (its frame as Parquet parts and who was scored); then reading the "
        "stored run back: one resident's score with its explanation (median of 20) and the "
        f"stored scores of {ALLOCATION_READ:,} residents as an allocation reads them. Best of "
        f"{arguments.runs} for the commands; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores at the end (a shared machine: read the CPU columns). Target: "
        f"registry within 3× the file on the 1,000,000-resident city.\n\n{table}",
    )


if __name__ == "__main__":
    main()
