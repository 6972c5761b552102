"""Program commands on a synthetic city: ``luodi program apply`` (a school-admission file of
every child entering grade 1) and ``luodi program allocate``, whole commands, each run in a
fresh process on its own copy of a SQLite file that holds the loaded and scored city and an
open cycle; and, in process, the allocation kernel's share of ``allocate``.

    python bench/programs.py [--residents 200000] [--runs 3] [--before REV]

``--before REV`` times the ``src/`` of an earlier commit on the same files, as
``bench/cli.py`` does; ``--without REV`` times HEAD beside HEAD with REV's change to ``src/``
reversed (an earlier commit may not read a database migrated since). ``--keep DIR`` keeps the
city and its loaded, scored database for the next run (loading takes minutes; a kept database
migrated before the code's newest revision needs ``luodi db upgrade``). Target (issue 14):
under 2 s each on the 1,000,000-resident city (the synthetic one has 38,560 children entering
grade 1; 7,785 in the 200,000-resident city).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import export_sources
from bench.report import markdown_table, write_section

ROOT = Path(__file__).resolve().parent.parent
POLICY = "zj-cixi"
PROGRAM = "school-entry"
SEED = 2026
TARGET_SECONDS = 2.0
MISSING_CYCLE = "999999"


def prepare(city: Path, database: Path) -> dict[str, object]:
    """Load and score the city, open a grade-1 cycle, write its applications file."""
    from luodi import migrate
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import create_db_engine, session_scope
    from luodi.policy.service import find_policy
    from luodi.programs import demo
    from luodi.programs import service as programs
    from luodi.registry import city_files
    from luodi.registry.loading import load_city
    from luodi.scoring import service as scoring
    from luodi.synth.generator import SynthOptions

    as_of = SynthOptions(residents=1, seed=SEED).as_of
    engine = create_db_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        load_city(SYSTEM_ACTOR, session, city)
    with session_scope(engine) as session:
        scoring.score_registry(SYSTEM_ACTOR, session, find_policy(POLICY, as_of), as_of)
    today = date.today()
    with session_scope(engine) as session:
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            PROGRAM,
            "bench",
            today - timedelta(days=30),
            today + timedelta(days=30),
            as_of,
            targets_file=city / city_files.SCHOOLS,
            entry_grade=1,
        )
        cycle_id = cycle.id
    engine.dispose()
    applications = demo.school_applications(city, as_of.year, SEED)
    applications.write_csv(city / "applications.csv")
    return {"cycle": cycle_id, "applications": applications.height}


def luodi(
    database: Path, environment: dict[str, str], *args: str, refused: bool = False
) -> tuple[float, float]:
    """Wall and CPU seconds of one whole command on ``database`` (``refused``: a command that
    must fail, as one on a cycle the database does not have)."""
    command = [str(Path(sys.executable).with_name("luodi")), *args]
    before = os.times()
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        env={**os.environ, **environment, "LUODI_DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - started
    after = os.times()
    if (completed.returncode != 0) != refused:
        raise SystemExit(f"{' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def settled(database: Path) -> None:
    """Everything a command wrote is in the file itself (its write-ahead log checkpointed and
    emptied), so that a copy of the file alone is the whole database."""
    import sqlite3

    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def fresh_copy(source: Path, copy: Path) -> None:
    """``source`` copied to ``copy``, with no log or index left from an earlier copy."""
    for stale in (copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(source, copy)


def results_digest(database: Path) -> str:
    """SHA-256 of every allocation result in ``database`` (a fresh copy holds one run), to
    show that the variants decide the same."""
    import hashlib
    import sqlite3

    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT application_id, outcome, target_id, unit, choice_rank, town_placement, "
            "points, priority_group, rank, lottery, entitlement, reason_zh, reason_en "
            "FROM allocation_results ORDER BY application_id"
        ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def kernel_seconds(database: Path, cycle: int) -> float:
    """The decision kernel alone, on the applicants' frame ``allocate`` builds."""
    from luodi.allocation import service as allocation
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import create_db_engine, session_scope
    from luodi.kernels.allocation.programs import decide
    from luodi.programs import repository, rules, targets
    from luodi.programs.catalog import cycle_spec

    engine = create_db_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        found = repository.get_cycle(SYSTEM_ACTOR, session, cycle)
        spec = cycle_spec(found)
        persons, scores = allocation.applicant_frame(SYSTEM_ACTOR, session, found, spec, None)
        types = {name: item.type for name, item in scores.compiled.policy.inputs.items()}
        evaluated = rules.evaluate(spec, types, persons.drop_nulls("points"), found.as_of)
        best = evaluated.sort(["eligible", "points"], descending=True).unique(
            "application_id", keep="first", maintain_order=True
        )
        frame = targets.target_frame(session, cycle)
        applicants = allocation._with_refusals(spec, best.sort(rules.ORDER))
        started = time.perf_counter()
        decide(allocation.decision_rules(spec), applicants, frame, str(SEED))
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", help="an earlier commit to time beside this one")
    parser.add_argument(
        "--without",
        help="a commit whose change is timed: HEAD beside HEAD with that commit's change to "
        "src/ reversed (the rest of the code the same)",
    )
    parser.add_argument(
        "--head",
        action="store_true",
        help="time HEAD's committed src/ (as --before does an earlier commit's) instead of the "
        "working tree, where others' unfinished work (a new migration) may not run",
    )
    parser.add_argument("--prepare", nargs=2, metavar=("CITY", "DB"))
    parser.add_argument("--kernel", nargs=2, metavar=("DB", "CYCLE"))
    parser.add_argument(
        "--not-reversed",
        nargs="*",
        default=[],
        help="files of --without's change left as in HEAD (helpers other code now uses)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="a folder for the city and its database, kept between runs (loading and scoring "
        "a large city takes minutes): reused when it holds them",
    )
    options = parser.parse_args()
    if options.prepare:
        print(json.dumps(prepare(Path(options.prepare[0]), Path(options.prepare[1]))))
        return
    if options.kernel:
        print(json.dumps(kernel_seconds(Path(options.kernel[0]), int(options.kernel[1]))))
        return

    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    rows: list[list[str]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        kept = options.keep or folder
        kept.mkdir(parents=True, exist_ok=True)
        city, base, setup_file = kept / "city", kept / "base.db", kept / "setup.json"
        if not setup_file.exists():
            write_city(SynthOptions(residents=options.residents, seed=SEED), city)
            prepared = subprocess.run(
                [sys.executable, __file__, "--prepare", str(city), str(base)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            setup_file.write_text(prepared.stdout.strip().splitlines()[-1], encoding="utf-8")
        setup = json.loads(setup_file.read_text(encoding="utf-8"))
        cycle, count = str(setup["cycle"]), int(setup["applications"])
        variants: dict[str, dict[str, str]] = {"now": {}}
        if options.head:
            revision = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            head = export_sources("HEAD", folder / "now")
            for shared in ("policies", "programs", "feeds"):  # found beside src/
                (head.parent / shared).symlink_to(ROOT / shared)
            variants = {f"now ({revision})": {"PYTHONPATH": str(head)}}
        if options.without:
            head = export_sources("HEAD", folder / "head")
            without = export_sources("HEAD", folder / "without")
            change = subprocess.run(
                [
                    "git",
                    "diff",
                    f"{options.without}^",
                    options.without,
                    "--",
                    "src",
                    *(f":(exclude){path}" for path in options.not_reversed),
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(
                ["patch", "-R", "-p1", "-s"], cwd=without.parent, input=change, check=True
            )
            compileall.compile_dir(without, quiet=1)
            for source in (head, without):
                for shared in ("policies", "programs", "feeds"):  # found beside src/
                    (source.parent / shared).symlink_to(ROOT / shared)
            variants = {
                "HEAD": {"PYTHONPATH": str(head)},
                f"HEAD without {options.without}": {"PYTHONPATH": str(without)},
            }
        if options.before:
            source = export_sources(options.before, folder / "before")
            for shared in ("policies", "programs", "feeds"):  # found beside src/
                (source.parent / shared).symlink_to(ROOT / shared)
            variants[f"before ({options.before})"] = {"PYTHONPATH": str(source)}
        # Start-up: the same commands on a cycle the database does not have, refused after
        # the imports, the settings, the schema check and the cycle's query.
        header, first, *_ = (city / "applications.csv").read_text(encoding="utf-8").splitlines()
        one_row = folder / "one.csv"
        one_row.write_text(f"{header}\n{first}\n", encoding="utf-8")
        applied = folder / "applied.db"
        settled(base)
        fresh_copy(base, applied)
        current = next(iter(variants.values()))  # the code timed as "now"
        luodi(applied, current, "program", "apply", cycle, str(city / "applications.csv"))
        luodi(applied, current, "program", "verify", cycle, "--all")
        settled(applied)
        kernel = float(
            subprocess.run(
                [sys.executable, __file__, "--kernel", str(applied), cycle],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, **current},
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        steps = (
            (
                "apply",
                base,
                ["apply", cycle, str(city / "applications.csv")],
                ["apply", MISSING_CYCLE, str(one_row)],
            ),
            (
                "allocate",
                applied,
                ["allocate", cycle, "--seed", str(SEED)],
                ["allocate", MISSING_CYCLE, "--seed", str(SEED)],
            ),
        )
        decided: dict[str, set[str]] = {label: set() for label in variants}
        for step, source_db, args, refused_args in steps:
            walls: dict[str, list[float]] = {label: [] for label in variants}
            cpus: dict[str, list[float]] = {label: [] for label in variants}
            starts: dict[str, list[float]] = {label: [] for label in variants}
            # Variants take turns in each round, so that they share the machine's load.
            for _ in range(options.runs):
                for label, environment in variants.items():
                    copy = folder / "run.db"
                    fresh_copy(source_db, copy)
                    wall, cpu = luodi(copy, environment, "program", *args)
                    if step == "allocate":
                        decided[label].add(results_digest(copy))
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    starts[label].append(
                        luodi(copy, environment, "program", *refused_args, refused=True)[1]
                    )
            for label in variants:
                rows.append(
                    [
                        f"`luodi program {step}`",
                        label,
                        f"{min(walls[label]):.2f} s",
                        f"{statistics.median(walls[label]):.2f} s",
                        f"{statistics.median(cpus[label]):.2f} s",
                        f"{statistics.median(starts[label]):.2f} s",
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
    load_after = os.getloadavg()[0]
    digests = set().union(*decided.values())
    if len(digests) != 1:
        raise SystemExit(f"the variants' allocations differ: {decided}")
    table = markdown_table(
        ["command", "code", "fastest", "median", "CPU (median)", "of which start-up (CPU)"], rows
    )
    body = (
        f"`python bench/programs.py --residents {options.residents} --runs {options.runs}"
        f"{' --head' if options.head else ''}"
        f"{f' --before {options.before}' if options.before else ''}"
        f"{f' --without {options.without}' if options.without else ''}"
        f"{''.join(f' --not-reversed {path}' for path in options.not_reversed)}`: a synthetic "
        "city of "
        f"{options.residents:,} residents loaded and scored ({POLICY}) on SQLite, a grade-1 "
        f"cycle of {PROGRAM} with {count:,} applications (every child entering grade 1, "
        "`programs/demo.py`); whole commands, each run in a fresh process on its own copy of "
        "the database file, the variants taking turns (wall time fastest and median, median "
        "CPU). `allocate` runs on the "
        "applications filed and verified. The decision kernel alone "
        f"(`kernels/allocation/programs.decide`) takes {kernel * 1000:.0f} ms of it. Start-up is "
        "the CPU time of the same command on a cycle the database does not have (imports, "
        "settings, the schema check, one query; refused). Target: "
        f"under {TARGET_SECONDS:.0f} s each on the 1,000,000-resident city. Load average "
        f"(1 min) {load_before:.1f} before the runs, {load_after:.1f} after: wall times stretch "
        f"with the load. Every run of every variant decided the same (the results' SHA-256 "
        f"{next(iter(digests))[:16]}…).\n\n{table}"
    )
    print(body)
    write_section("Programs", body)


if __name__ == "__main__":
    main()
