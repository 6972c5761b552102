"""How long whole ``luodi`` commands take, each run in a fresh process from an empty folder:
``luodi --help``, ``luodi id check`` on one valid number, and ``luodi allocate`` on 100,000
pupils (300 schools, 5 choices, CSV in and out), beside ``python -c "import typer"``.

    python bench/cli.py [--runs 10] [--before REV]

Each command runs ``--runs`` times; the table gives the fastest and the median wall time (the
machine is shared, so the fastest is the least disturbed) and the median CPU time. "no
bytecode" runs the same commands with an empty bytecode cache, as every command ran where
PYTHONDONTWRITEBYTECODE is set before ``make setup`` compiled the environment. ``--before REV``
adds the same measures for the sources of an earlier commit (exported and compiled in a
temporary folder, put first on the path).

Targets (issue 13): ``luodi --help`` within 3× the start-up of ``python -c "import typer"``;
``luodi allocate`` on 100,000 pupils under 1 s, whole command.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.allocation import instance
from bench.report import markdown_table, write_section

ROOT = Path(__file__).resolve().parent.parent
PUPILS = 100_000
TYPER = 'python -c "import typer"'
VALID_ID = "11010519491231002X"
HELP_FACTOR = 3.0
ALLOCATE_SECONDS = 1.0


@dataclass(frozen=True)
class Timing:
    fastest: float
    median: float
    cpu: float


def luodi(*args: str) -> list[str]:
    """The ``luodi`` script of this environment, as a user runs it."""
    return [str(Path(sys.executable).with_name("luodi")), *args]


def commands(folder: Path) -> dict[str, list[str]]:
    return {
        TYPER: [sys.executable, "-c", "import typer"],
        "luodi --help": luodi("--help"),
        f"luodi id check {VALID_ID}": luodi("id", "check", VALID_ID),
        f"luodi allocate ({PUPILS:,} pupils)": luodi(
            "allocate",
            "--method",
            "deferred-acceptance",
            "--applicants",
            str(folder / "applicants.csv"),
            "--capacities",
            str(folder / "capacities.csv"),
            "--seed",
            "2026",
            "--output",
            str(folder / "placed.csv"),
        ),
    }


def write_pupils(folder: Path) -> None:
    """The allocation bench's instance as a user would hand it in: CSV, choices joined by ;."""
    applicants, capacities = instance(PUPILS)
    applicants.with_columns(pl.col("choices").list.join(";")).write_csv(folder / "applicants.csv")
    capacities.write_csv(folder / "capacities.csv")


def measure(command: list[str], runs: int, cwd: Path, env: dict[str, str]) -> Timing:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return Timing(min(walls), statistics.median(walls), statistics.median(cpus))


def export_sources(revision: str, folder: Path) -> Path:
    """``src/`` of ``revision``, with its bytecode, to put first on the path."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    compileall.compile_dir(folder / "src", quiet=1)
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", help="an earlier commit to measure beside this one")
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_pupils(folder)
        empty = folder / "cwd"  # no var/, no .env: as a user's folder elsewhere
        empty.mkdir()
        base = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "100"}
        variants = {"now": base}
        # An empty cache folder: Python looks only there for bytecode and writes none.
        variants["now, no bytecode"] = {**base, "PYTHONPYCACHEPREFIX": str(folder / "nocache")}
        if options.before:
            source = export_sources(options.before, folder / "before")
            variants[f"before ({options.before})"] = {**base, "PYTHONPATH": str(source)}
        results: dict[str, dict[str, Timing]] = {}
        for name, command in commands(folder).items():
            results[name] = {}
            for variant, env in variants.items():
                if variant.startswith("before") and name == TYPER:
                    continue  # the same typer either way
                results[name][variant] = measure(command, options.runs, empty, env)
                timing = results[name][variant]
                print(
                    f"{name:40} {variant:24} fastest {timing.fastest:.3f} s  "
                    f"median {timing.median:.3f} s  cpu {timing.cpu:.3f} s",
                    flush=True,
                )
    rows = [
        [
            f"`{name}`",
            variant,
            f"{timing.fastest:.3f} s",
            f"{timing.median:.3f} s",
            f"{timing.cpu:.3f} s",
        ]
        for name, timings in results.items()
        for variant, timing in timings.items()
    ]
    headers = ["command", "code", "fastest", "median", "CPU (median)"]
    names = list(results)
    typer_start = results[names[0]]["now"]
    help_ratio = results[names[1]]["now"].fastest / typer_start.fastest
    help_cpu_ratio = results[names[1]]["now"].cpu / typer_start.cpu
    id_check = results[names[2]]["now"]
    allocate = results[names[3]]["now"]
    verdict = (
        f"`luodi --help` takes {help_ratio:.1f}× the start-up of `import typer` "
        f"({help_cpu_ratio:.1f}× its CPU time; target ≤ {HELP_FACTOR:.0f}×: "
        f"{'met' if help_ratio <= HELP_FACTOR else 'missed'}); "
        f"`luodi id check` {id_check.fastest:.2f} s fastest; "
        f"`luodi allocate` on {PUPILS:,} pupils {allocate.fastest:.2f} s fastest, "
        f"{allocate.median:.2f} s median (target < {ALLOCATE_SECONDS:.0f} s: "
        f"{'met' if allocate.fastest < ALLOCATE_SECONDS else 'missed'})."
    )
    load = f"load average (1 min) {load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after"
    verdict = f"{verdict} {os.cpu_count()} cores, {load}: wall times stretch with the load."
    print(verdict)
    write_section(
        "CLI",
        f"`python bench/cli.py --runs {options.runs}"
        f"{f' --before {options.before}' if options.before else ''}`: whole commands, each "
        "run in a fresh process from an empty folder (wall time fastest and median of the "
        "runs, median CPU time). *no bytecode* is the same code with an empty bytecode cache, "
        "as every command ran where PYTHONDONTWRITEBYTECODE is set before `make setup` "
        "compiled the environment. Targets: `luodi --help` within 3× `import typer`; "
        "`luodi allocate` on 100,000 pupils under 1 s.\n\n"
        f"{markdown_table(headers, rows)}\n\n{verdict}",
    )


if __name__ == "__main__":
    main()
