"""积分制总量分析 of a 1,000,000-resident scoring run: the whole `luodi analysis points`
command (XLSX with a first-batch list, and PDF) in a new process, seconds and peak memory, on
SQLite and PostgreSQL; and where the time goes inside the service.

    python bench/points_analysis.py [--residents 1000000] [--skip-postgres]

The registry the analysis reads (residents, permits, employments) and two scoring runs of
the shipped policy are written straight with the bulk paths: the synthetic city's `luodi load`
of a million residents takes minutes (docs/benchmarks.md "synth") and the analysis reads none
of its department feeds. The runs' points are the policy engine's on inputs drawn as
`bench/policy.py` draws them; the second run has more months of insurance and employment.
Target (issue 18): under 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.policy import population
from bench.report import markdown_table, write_section
from luodi import bulk, migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.kernels.policy import prepare_inputs
from luodi.policy.service import find_policy
from luodi.registry.models import Employer, Employment, ResidencePermit, Resident, Town
from luodi.scoring import frames
from luodi.scoring import repository as scoring_repository
from luodi.scoring.models import ResidentScore, ScoringRun

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "LUODI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RUN_DATES = (date(2026, 1, 15), date(2026, 3, 1))
TOWNS = 19
PROVINCES = ["安徽", "江西", "河南", "四川", "贵州", "云南", "湖南", "湖北", "广西", "江苏"]
QUOTA = 5_000


def write_registry(engine: Engine, count: int) -> None:
    rng = np.random.default_rng(18)
    inputs = population(count).with_columns(pl.col("resident_id") + 1)
    towns = pl.DataFrame(
        {
            "id": range(1, TOWNS + 1),
            "code": [f"330282{index:03d}" for index in range(1, TOWNS + 1)],
            "name": [f"镇街{index}" for index in range(1, TOWNS + 1)],
            "kind": ["town"] * TOWNS,
        }
    )
    ids = inputs["resident_id"]
    town_of = pl.Series(rng.integers(1, TOWNS + 1, count))
    residents = pl.DataFrame(
        {
            "id": ids,
            "id_number": ids.cast(pl.String).str.zfill(17).str.replace(r"^0", "5") + "1",
            "name": pl.Series(["张三丰", "李四", "王小五"] * (count // 3 + 1)).head(count),
            "sex": pl.Series(["男", "女"] * (count // 2 + 1)).head(count),
            "birth_date": inputs["birth_date"],
            "origin_region_code": ["340000"] * count,
            "origin_province": pl.Series(PROVINCES)[rng.integers(0, len(PROVINCES), count)],
            "town_id": town_of,
        }
    )
    issued = inputs["residence_registration_date"]
    permits = pl.DataFrame(
        {
            "id": ids,
            "permit_number": "P" + ids.cast(pl.String),
            "resident_id": ids,
            "town_id": town_of,
            "issue_date": issued,
            "expiry_date": issued.dt.offset_by("3y"),
            "status": ["valid"] * count,
        }
    )
    employers = pl.DataFrame(
        {
            "id": range(1, 1_001),
            "credit_code": [f"91330282{index:010d}" for index in range(1, 1_001)],
            "name": [f"企业{index}" for index in range(1, 1_001)],
            "town_id": [index % TOWNS + 1 for index in range(1, 1_001)],
        }
    )
    working = ids.filter(pl.Series(rng.random(count) < 0.88))
    employments = pl.DataFrame(
        {
            "id": range(1, working.len() + 1),
            "resident_id": working,
            "employer_id": rng.integers(1, 1_001, working.len()),
            "basis": pl.Series(["labour_contract", "business_licence"])[
                (rng.random(working.len()) < 0.12).astype(np.int64)
            ],
            "start_date": [date(2020, 1, 1)] * working.len(),
        }
    )
    with session_scope(engine) as session:
        for table, frame in (
            (Town.__table__, towns),
            (Resident.__table__, residents),
            (ResidencePermit.__table__, permits),
            (Employer.__table__, employers),
            (Employment.__table__, employments),
        ):
            bulk.insert_frame(session, table, frame)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        for number, on in enumerate(RUN_DATES):
            compiled = find_policy("zj-cixi", on)
            drawn = inputs.with_columns(
                pl.col("social_insurance_months") + 2 * number,
                pl.col("local_social_insurance_months") + 2 * number,
                pl.col("continuous_employment_months") + 2 * number,
            )
            typed = prepare_inputs(drawn, compiled.policy)
            points = compiled.score(typed, on)
            frame = frames.score_frame(points, typed, compiled.policy.indicator_ids)
            parts, digest = frames.to_parts(frame)
            run = ScoringRun(
                policy_id=compiled.policy.id,
                policy_version=compiled.policy.version,
                policy_digest=compiled.policy.digest,
                policy_text=compiled.policy.text,
                as_of=on,
                created_by="bench",
                residents_scored=frame.height,
                residents_skipped=0,
                mean_total=float(frame["total"].mean()),  # type: ignore[arg-type]
                frame_digest=digest,
            )
            session.add(run)
            session.flush()
            scoring_repository.store_frame(session, run.id, parts)
            bulk.insert_frame(
                session,
                ResidentScore.__table__,  # type: ignore[arg-type]
                frame.select(pl.lit(run.id).alias("run_id"), "resident_id", "total"),
            )


def command(url: str, *args: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MiB) of ``python -m luodi …`` in a new process: a small parent
    runs it and reports its child's resources (ours would mix every command's peak)."""
    probe = (
        "import resource, subprocess, sys, time;"
        "start = time.perf_counter();"
        "done = subprocess.run(sys.argv[1:]);"
        "wall = time.perf_counter() - start;"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024);"
        "sys.exit(done.returncode)"
    )
    env = {**os.environ, "LUODI_DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "luodi", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    wall, cpu, peak = (float(value) for value in result.stdout.strip().splitlines()[-1].split())
    return wall, cpu, peak


def steps(engine: Engine, run: int) -> dict[str, float]:
    """Seconds of each step of the service, in this process (the progress callback's
    moments)."""
    from luodi.analysis import service

    moments: list[tuple[str, float]] = []
    with session_scope(engine) as session:
        start = time.perf_counter()
        service.points_analysis(
            SYSTEM_ACTOR,
            session,
            run,
            quota=QUOTA,
            progress=lambda text: moments.append((text, time.perf_counter())),
        )
        end = time.perf_counter()
    names = ["checks", "run's frame", "registry", "aggregates", "previous run", "layers"]
    marks = [start, *(moment for _, moment in moments), end]
    return {
        name: marks[index + 1] - marks[index] for index, name in enumerate(names[: len(marks) - 1])
    }


def measure(label: str, url: str, count: int, folder: Path) -> list[list[str]]:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    write_registry(engine, count)
    print(f"{label}: registry and two runs written in {time.perf_counter() - started:.0f} s")
    run = 2
    rows = []
    for kind, extra in (("xlsx", ["--quota", str(QUOTA)]), ("pdf", [])):
        output = folder / f"analysis-{label}.{kind}"
        wall, cpu, peak = command(
            url, "analysis", "points", "--run", str(run), *extra, "--output", str(output)
        )
        rows.append(
            [
                f"`luodi analysis points` → {kind.upper()}"
                + (f" (quota {QUOTA:,})" if extra else ""),
                label,
                f"{count:,}",
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{peak:,.0f} MiB",
                f"{output.stat().st_size / 1024:,.0f} KiB",
            ]
        )
        print(rows[-1])
    parts = steps(engine, run)
    print(label, {name: round(seconds, 2) for name, seconds in parts.items()})
    rows.append(
        [
            "service steps (in process)",
            label,
            f"{count:,}",
            " · ".join(f"{name} {seconds:.2f}" for name, seconds in parts.items()),
            "",
            "",
            "",
        ]
    )
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not record")
    options = parser.parse_args()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="points-analysis-") as temporary:
        folder = Path(temporary)
        if not options.skip_sqlite:
            rows += measure("SQLite", f"sqlite:///{folder / 'bench.db'}", options.residents, folder)
        if not options.skip_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(POSTGRES_URL)
            with admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
                rows += measure("PostgreSQL", url, options.residents, folder)
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    table = markdown_table(
        ["command", "database", "residents", "wall s", "CPU s", "peak memory", "file"], rows
    )
    print(table)
    if not options.no_write:
        write_section(
            "points analysis",
            f"`python bench/points_analysis.py --residents {options.residents}`: the whole "
            "`luodi analysis points` command in a new process (start-up, reading every part of "
            "the run's frame and the previous run's, the registry's attributes in bulk, the "
            "counts of the policy's runs in SQL, the kernel, the file, the audit entry, "
            "commit) on a run of the shipped policy; the registry and two runs written with "
            "the bulk paths (see the script). CPU: the command's process, all threads "
            "(PostgreSQL's server CPU is not in it). Target (issue 18): under 10 s on 2 cores."
            "\n\n" + table,
        )


if __name__ == "__main__":
    main()
