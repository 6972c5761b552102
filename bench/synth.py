"""Generate and load a synthetic city into SQLite and PostgreSQL; print and record the figures.

    python bench/synth.py [--residents 1000000] [--skip-postgres]

Target (DESIGN.md, issue 2): a million residents generate in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.registry.loading import load_city
from luodi.synth.generator import SynthOptions, generate_city
from luodi.synth.service import write_city

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_into(url: str, city: Path) -> tuple[float, int]:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    with session_scope(engine) as session:
        summary = load_city(SYSTEM_ACTOR, session, city)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, sum(summary.model_dump().values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    n = arguments.residents
    rows: list[list[str]] = []

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "city"
        started = time.perf_counter()
        frames = generate_city(SynthOptions(residents=n, seed=2026))
        generated = time.perf_counter() - started
        total_rows = sum(frame.height for frame in frames.values())
        del frames
        rows.append(
            [
                "generate (in memory)",
                f"{n:,}",
                f"{total_rows:,}",
                f"{generated:.1f}",
                f"{n / generated:,.0f}",
            ]
        )
        started = time.perf_counter()
        write_city(SynthOptions(residents=n, seed=2026), directory)
        written = time.perf_counter() - started
        rows.append(
            [
                "generate + write CSV",
                f"{n:,}",
                f"{total_rows:,}",
                f"{written:.1f}",
                f"{n / written:,.0f}",
            ]
        )

        elapsed, loaded = load_into(f"sqlite:///{Path(scratch) / 'bench.db'}", directory)
        rows.append(
            ["load into SQLite", f"{n:,}", f"{loaded:,}", f"{elapsed:.1f}", f"{n / elapsed:,.0f}"]
        )

        if not arguments.skip_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(POSTGRES_URL)
            with admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                elapsed, loaded = load_into(
                    f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", directory
                )
                rows.append(
                    [
                        "load into PostgreSQL (COPY)",
                        f"{n:,}",
                        f"{loaded:,}",
                        f"{elapsed:.1f}",
                        f"{n / elapsed:,.0f}",
                    ]
                )
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()

    headers = ["step", "residents", "rows (all tables/files)", "seconds", "residents/s"]
    table = markdown_table(headers, rows)
    print(table)
    print(f"peak memory: {peak_memory_mib():,.0f} MiB")
    write_section(
        "synth",
        "Synthetic city: `python bench/synth.py --residents "
        f"{n}`. Load = validation of every row plus the bulk insert of towns, residents, "
        "households, permits, children, employers and employment in one transaction.\n\n"
        f"{table}\n\nPeak memory of the whole run: {peak_memory_mib():,.0f} MiB.",
    )


if __name__ == "__main__":
    main()
