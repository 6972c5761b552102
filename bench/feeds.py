"""Import a 1,000,000-row social-insurance CSV into SQLite and PostgreSQL, and a 100,000-row
XLSX, each as the `luodi feed import` command in a new process; print and record seconds,
rows/s and the command's peak memory.

    python bench/feeds.py [--residents 100000] [--periods 10] [--skip-postgres]

The registry holds a synthetic city of ``--residents`` people; the feed file has one row per
person and year (``--periods`` years), so 100,000 × 10 = 1,000,000 rows.
Target (issue 4): the million rows into SQLite in under 30 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.registry import city_files
from luodi.registry.loading import load_city
from luodi.synth.generator import SynthOptions
from luodi.synth.service import write_city

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUNNER = (
    "import resource, sys\n"
    "from luodi.console import main\n"
    "sys.argv = ['luodi', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print(f'PEAK {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
)


def registry(url: str, city: Path) -> None:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        load_city(SYSTEM_ACTOR, session, city)
    engine.dispose()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_import(url: str, feed: str, path: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (the command's process, all threads), peak MiB, output."""
    started = time.perf_counter()
    cpu = children_cpu()
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, "feed", "import", feed, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "LUODI_DATABASE_URL": url, "COLUMNS": "200"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"import failed:\n{result.stdout}\n{result.stderr}")
    peak = next(
        int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("PEAK")
    )
    return elapsed, cpu, peak / 1024, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    rows: list[list[str]] = []
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        city = folder / "city"
        write_city(SynthOptions(residents=arguments.residents, seed=2026), city)
        only_registry = folder / "registry"
        only_registry.mkdir()
        for name in city_files.REGISTRY_FILES:
            shutil.copy(city / name, only_registry / name)
        people = pl.read_csv(city / "residents.csv", infer_schema=False)["id_number"]
        years = [str(2025 - back) for back in range(arguments.periods)]
        insurance = (
            pl.DataFrame({"公民身份号码": people})
            .join(pl.DataFrame({"缴费年度": years}), how="cross")
            .with_columns(缴费月数=(pl.int_range(pl.len()) % 13).cast(pl.String))
        )
        csv_path = folder / "social_insurance_gbk.csv"
        csv_path.write_bytes(insurance.write_csv().encode("gbk"))
        xlsx_path = folder / "social_insurance.xlsx"
        insurance.head(arguments.xlsx_rows).write_excel(xlsx_path, worksheet="明细")
        size_mib = csv_path.stat().st_size / 2**20

        targets = [("SQLite", f"sqlite:///{folder / 'bench.db'}")]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = None
        if not arguments.skip_postgres:
            admin = create_engine(POSTGRES_URL)
            with admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            targets.append(
                ("PostgreSQL (COPY)", f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
            )
        try:
            for label, url in targets:
                registry(url, only_registry)
                elapsed, cpu, peak, _ = timed_import(url, "social_insurance", csv_path)
                rows.append(
                    [
                        f"CSV (GBK, {size_mib:,.0f} MiB) → {label}",
                        f"{insurance.height:,}",
                        f"{elapsed:.1f}",
                        f"{cpu:.1f}",
                        f"{insurance.height / elapsed:,.0f}",
                        f"{peak:,.0f} MiB",
                    ]
                )
                print(rows[-1], flush=True)
                if label == "SQLite":
                    # The same people and years again: every fact supersedes one.
                    elapsed, cpu, peak, _ = timed_import(url, "social_insurance", xlsx_path)
                    rows.append(
                        [
                            f"XLSX → {label} (superseding as many facts)",
                            f"{arguments.xlsx_rows:,}",
                            f"{elapsed:.1f}",
                            f"{cpu:.1f}",
                            f"{arguments.xlsx_rows / elapsed:,.0f}",
                            f"{peak:,.0f} MiB",
                        ]
                    )
                    print(rows[-1], flush=True)
        finally:
            if admin is not None:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()

    load_after = os.getloadavg()[0]
    headers = ["import", "rows", "seconds", "CPU s", "rows/s", "peak memory (command)"]
    table = markdown_table(headers, rows)
    print(table)
    write_section(
        "feeds",
        "`python bench/feeds.py --residents "
        f"{arguments.residents} --periods {arguments.periods}`: the whole `luodi feed import` "
        "command in a new process (start-up, encoding detection and SHA-256, streaming checks "
        "into Parquet, person lookup, duplicate keys, bulk insert, supersession, commit), on "
        f"a registry of {arguments.residents:,} residents. Target: 1,000,000 rows into SQLite "
        "in under 30 s. CPU: the command's process, all threads (PostgreSQL's server CPU is "
        "not in it).\n\n"
        + table
        + f"\n\nLoad average (1 min) {load_before:.1f} before, {load_after:.1f} after, on "
        f"{os.cpu_count()} cores shared with other work.",
    )


if __name__ == "__main__":
    main()
