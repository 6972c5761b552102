"""The analytics of issue 18 as whole commands, each in a new process: the school-place
forecast with its backtest, the 积分制总量分析 of a scoring run, and a policy what-if — on a
synthetic city with years of history, loaded into SQLite and scored. Seconds (wall and CPU)
and the peak memory of each command; printed and kept in docs/benchmarks.md.

    python bench/analysis.py [--residents 1000000] [--years 5] [--data var/bench-analysis]

The city is generated, loaded and scored once per data folder (its database is kept there
and reused by a later run with the same size); only the analytics are timed for the target.
Target (issue 18): each command under 10 s on 2 cores at 1,000,000 residents.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section

ROOT = Path(__file__).resolve().parent.parent
POLICY = "zj-cixi"
AS_OF = date(2026, 3, 1)
SEED = 2026
TARGET_SECONDS = 10.0

MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall": time.perf_counter() - started,
    "cpu": usage.ru_utime + usage.ru_stime,
    "peak_mb": usage.ru_maxrss / 1024,
    "code": done.returncode,
    "stderr": done.stderr[-2000:],
    "stdout": done.stdout[-2000:],
}))
"""
"""A small parent per command: its children's usage is that one command's (peak memory is
the largest resident set of the process, in kB on Linux)."""


def environment(database: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LUODI_DATABASE_URL"] = f"sqlite:///{database}"
    env["LUODI_DATA_DIR"] = str(database.parent)
    return env


def luodi(arguments: list[str], database: Path) -> dict[str, object]:
    """Run ``luodi arguments`` in a new process; wall, CPU, peak memory; fail loudly."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "luodi", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(database),
        check=True,
    )
    measured: dict[str, object] = json.loads(result.stdout)
    if measured["code"] != 0:
        raise SystemExit(f"luodi {' '.join(arguments)} failed:\n{measured['stderr']}")
    return measured


def prepare(residents: int, years: int, folder: Path) -> tuple[Path, int]:
    """The city generated, loaded, scored and given a school cycle, once per folder."""
    database = folder / "luodi.db"
    ready = folder / "ready.json"
    if ready.exists():
        made = json.loads(ready.read_text())
        if made == {"residents": residents, "years": years}:
            return database, latest_run(database)
    folder.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    city = folder / "city"
    steps: list[tuple[str, list[str]]] = [
        (
            "synth",
            [
                "synth",
                "--residents",
                str(residents),
                "--years",
                str(years),
                "--seed",
                str(SEED),
                "--as-of",
                AS_OF.isoformat(),
                "--out",
                str(city),
            ],
        ),
        ("db upgrade", ["db", "upgrade"]),
        ("load", ["load", str(city)]),
        ("score", ["score", "--policy", POLICY, "--as-of", AS_OF.isoformat()]),
    ]
    for label, arguments in steps:
        measured = luodi(arguments, database)
        print(f"  {label}: {measured['wall']:.1f} s", flush=True)
    # The school cycle of the demo (applications verified and allocated): what the what-if
    # runs the allocation on.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from datetime import date; from pathlib import Path;"
            "from luodi.programs.cli import demo_cycles;"
            "demo_cycles(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3]))",
            str(city),
            AS_OF.isoformat(),
            str(SEED),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env=environment(database),
    )
    ready.write_text(json.dumps({"residents": residents, "years": years}))
    return database, latest_run(database)


def latest_run(database: Path) -> int:
    import sqlite3

    with sqlite3.connect(database) as connection:
        (run_id,) = connection.execute("SELECT max(id) FROM scoring_runs").fetchone()
    return int(run_id)


def draft_policy(folder: Path) -> Path:
    """The published policy with one value changed: what a city would try."""
    published = (ROOT / "policies" / POLICY / "2026.1.yaml").read_text(encoding="utf-8")
    draft = folder / "draft.yaml"
    changed = published.replace('version: "2026.1"', 'version: "2026.9-draft"', 1)
    if changed == published:
        raise SystemExit("the published policy's version line moved: update bench/analysis.py")
    draft.write_text(changed.replace("cap: 30", "cap: 40", 1), encoding="utf-8")
    return draft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-analysis")
    options = parser.parse_args()
    folder = options.data.resolve() / f"{options.residents}-{options.years}"
    print(f"city of {options.residents:,} residents with {options.years} years …", flush=True)
    database, run_id = prepare(options.residents, options.years, folder)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    commands = [
        (
            "`luodi forecast schools --horizon 5` (auto: backtest inside)",
            [
                "forecast",
                "schools",
                "--as-of",
                AS_OF.isoformat(),
                "--horizon",
                "5",
                "--output",
                str(out / "forecast.csv"),
            ],
        ),
        (
            "`luodi forecast backtest`",
            ["forecast", "backtest", "--output", str(out / "backtest.csv")],
        ),
        (
            f"`luodi analysis points --run {run_id}` (XLSX)",
            ["analysis", "points", "--run", str(run_id), "--output", str(out / "points.xlsx")],
        ),
        (
            "`luodi policy whatif` (XLSX)",
            [
                "policy",
                "whatif",
                "--draft",
                str(draft_policy(folder)),
                "--as-of",
                AS_OF.isoformat(),
                "--output",
                str(out / "whatif.xlsx"),
            ],
        ),
    ]
    rows = []
    for label, arguments in commands:
        started = time.perf_counter()
        measured = luodi(arguments, database)
        wall, cpu, peak = (float(measured[key]) for key in ("wall", "cpu", "peak_mb"))  # type: ignore[arg-type]
        print(f"  {label}: {wall:.2f} s, {peak:,.0f} MB ({time.perf_counter() - started:.1f})")
        rows.append(
            [
                label,
                f"{wall:.2f} s",
                f"{cpu:.2f} s",
                f"{peak:,.0f} MB",
                "yes" if wall < TARGET_SECONDS else "**no**",
            ]
        )
    load = os.getloadavg()[0]
    table = markdown_table(
        ["command (new process)", "wall", "CPU", "peak memory", f"under {TARGET_SECONDS:.0f} s"],
        rows,
    )
    body = (
        f"`python bench/analysis.py --residents {options.residents} --years {options.years}`: "
        f"a synthetic city of {options.residents:,} residents with {options.years} years of "
        f"history (`luodi synth --years`, seed {SEED}), loaded into SQLite, scored with "
        f"`{POLICY}` as of {AS_OF}, with the demo's school cycle (applications verified and "
        "allocated). Each command is the whole command in a new process (start-up, reading "
        "the database, the work, writing the file); peak memory is its largest resident set. "
        f"Load average at the end {load:.1f} on 2 cores (a shared machine). "
        f"Target: each under {TARGET_SECONDS:.0f} s.\n\n{table}\n"
    )
    print(table)
    write_section(f"Analytics at {options.residents:,} residents", body)


if __name__ == "__main__":
    main()
