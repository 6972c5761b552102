"""Province scale: 1,000,000 / 5,000,000 / 25,000,000 residents' policy inputs generated as
Parquet partitioned by town, then scored three ways — the Polars kernel alone, the whole
dataset path on Polars (`score_dataset(engine="polars")`) and on Spark local mode on 2 cores
(`score_dataset(engine="spark")`, `local[2]`) — each in a new process so that its peak memory
is its own; printed and kept in docs/benchmarks.md with the crossover where Spark pays.

    python bench/spark.py [--sizes 1000000 5000000 25000000] [--data var/spark-bench] [--keep]

The inputs are what a province's joined department feeds look like (docs/scale.md): the
policy's raw columns (dates of birth as text, as 公安 sends them; months and counts as
integers; enums as words), the carried ``first_permit_date``, one folder per ``town_code``
(19 towns at 1 M — 慈溪's — up to 60 at 25 M), written a file of at most ``CHUNK`` rows at a
time so the population is never in memory at once. A small share is refused on purpose: dates
that do not exist, empty required values, undeclared enum values, ids sent twice.

Targets (issue 19): the Polars kernel over 5 M residents/s; 25 M residents on Spark local on
2 cores without running out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "zj-cixi" / "2026.1.yaml"
AS_OF = date(2026, 3, 1)
SEED = 2026
SECTION = "Province scale: Polars and Spark local"
CHUNK = 1_000_000
"""Rows generated and written at a time (one Parquet file): the generator's memory bound."""
MASTER = "local[2]"
DRIVER_MEMORY = "4g"
KERNEL_TARGET = 5_000_000
KERNEL_REPEATS = 3
"""The kernel's time is the best of these runs after one warm-up run (a shared machine)."""
POLARS_MEMORY_SHARE = 0.8
"""Polars end to end is skipped at a size whose peak, extrapolated from the smaller sizes,
passes this share of the memory available when it would start (the machine is shared)."""

# Shares of rows spoiled on purpose, per kind (a row gets at most one).
BAD_DATE = 0.0004
EMPTY_REQUIRED = 0.0004
UNDECLARED_ENUM = 0.0004
DUPLICATE_ID = 0.00005

EDUCATION = {
    "none": 14.5,
    "junior_high": 52.1,
    "senior_high": 17.1,
    "associate": 10.5,
    "bachelor": 5.3,
    "master": 0.45,
    "doctor": 0.05,
}
SKILL = {
    "none": 75,
    "junior": 12,
    "intermediate": 8,
    "senior": 4,
    "technician": 0.8,
    "senior_technician": 0.2,
}
TITLE = {
    "none": 93,
    "clerk": 1.5,
    "assistant": 3,
    "intermediate": 2,
    "associate_senior": 0.4,
    "senior": 0.1,
}
SPECIAL = {"none": 96, "ordinary": 3.5, "advanced": 0.5}
HOUSING = {"none": 38, "dormitory": 30, "public_rental": 2, "registered_rental": 25, "owned": 5}
PERMIT = {"valid": 92, "suspended": 3, "expired": 3, "cancelled": 1, "none": 1}
BAD_DATES = ["1990-02-30", "1988-13-01", "不详", "0000-00-00", "1975/2/29"]
UNDECLARED = {"education": ["本科", "博士后", "Bachelor"], "housing": ["自建房", "rented"]}
NEIGHBOUR_COUNTIES = ["330281", "330283", "330206", "330212", "330226", "330225"]
"""余姚、奉化、北仑、鄞州、宁海、象山: the towns past 慈溪's 19 at the larger sizes."""


# --------------------------------------------------------------------------- the generator


def towns_for(size: int) -> pl.DataFrame:
    """Town codes and weights: 慈溪's 19 towns, then neighbouring counties' up to 60."""
    from luodi.synth.reference import CIXI_TOWNS

    count = min(60, max(len(CIXI_TOWNS), round(12 * size**0.5 / 1000)))
    codes = [town.code for town in CIXI_TOWNS]
    weights = [town.weight for town in CIXI_TOWNS]
    rng = np.random.default_rng(SEED)
    for number in range(count - len(codes)):
        county = NEIGHBOUR_COUNTIES[number // 10]
        codes.append(f"{county}{101 + number % 10:03d}")
        weights.append(float(rng.uniform(3, 10)))
    return pl.DataFrame({"town_code": codes, "weight": weights})


def _choice(rng: np.random.Generator, weights: Mapping[str, float], count: int) -> pl.Series:
    values = list(weights)
    probabilities = np.asarray(list(weights.values()), dtype=np.float64)
    picked = rng.choice(len(values), count, p=probabilities / probabilities.sum())
    return pl.Series(values, dtype=pl.String).gather(picked)


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


ID_STEP = 314_159_265_359
"""Odd and prime to 5, so ``index × ID_STEP mod 10¹⁸`` is one-to-one: ids as long and as
varied as 身份证号 (18 digits that do not run in order), unique by construction."""


def resident_ids(index: pl.Expr) -> pl.Expr:
    return (((index.cast(pl.Int64) + 10**6) * ID_STEP) % 10**18).cast(pl.String).str.zfill(18)


def residents(
    rng: np.random.Generator, start: int, count: int, *, spoil: bool = True
) -> tuple[pl.DataFrame, dict[str, int]]:
    """``count`` residents' raw inputs with ids from ``start``; the rows spoiled on purpose,
    by kind (none when not ``spoil``)."""
    as_of = (np.datetime64(AS_OF) - np.datetime64("1970-01-01")).astype(np.int64)
    young = rng.random(count) < 0.8
    age = np.clip(np.where(young, rng.normal(32, 7, count), rng.normal(47, 6, count)), 18, 62)
    birth = as_of - (age * 365.25).astype(np.int64) - rng.integers(0, 365, count)
    lived = np.minimum(rng.gamma(2.0, 700.0, count), (age - 16) * 365).astype(np.int64)
    registered = as_of - lived
    first_permit = registered + rng.integers(30, 200, count)
    insured = np.minimum(rng.gamma(1.6, 28.0, count).astype(np.int64), 300)
    local = (insured * rng.uniform(0.3, 1.0, count)).astype(np.int64)
    permit_state = _choice(rng, PERMIT, count)

    def few(share: float, high: int) -> np.ndarray:
        return np.where(rng.random(count) < share, rng.integers(1, high + 1, count), 0)

    frame = pl.DataFrame(
        {
            "resident_id": pl.Series(np.arange(start, start + count, dtype=np.int64)),
            "birth_date": _dates(birth),
            "education": _choice(rng, EDUCATION, count),
            "skill_level": _choice(rng, SKILL, count),
            "professional_title": _choice(rng, TITLE, count),
            "special_skill_certificate": _choice(rng, SPECIAL, count),
            "social_insurance_months": insured.astype(np.int32),
            "social_insurance_continuous_months": (insured * rng.uniform(0.2, 1.0, count)).astype(
                np.int32
            ),
            "social_insurance_current": rng.random(count) < 0.78,
            "employee_medical_insurance_months": (insured * rng.uniform(0.0, 1.0, count)).astype(
                np.int32
            ),
            "employee_medical_insurance_current": rng.random(count) < 0.6,
            "permit_valid": (permit_state == "valid").to_numpy(),
            "permit_state": permit_state,
            "residence_registration_date": _dates(registered),
            "continuous_employment_months": np.minimum(
                rng.gamma(1.4, 20.0, count).astype(np.int64), insured
            ).astype(np.int32),
            "housing": _choice(rng, HOUSING, count),
            "local_social_insurance_months": local.astype(np.int32),
            "special_post_years": few(0.03, 15).astype(np.int32),
            "blood_donation_ml": rng.choice(
                [0, 200, 400, 800], count, p=[0.85, 0.08, 0.05, 0.02]
            ).astype(np.int32),
            "volunteer_hours": rng.gamma(0.6, 25.0, count).round(1),
            "county_honours": few(0.01, 2).astype(np.int32),
            "city_honours": few(0.003, 1).astype(np.int32),
            "detentions": few(0.01, 2).astype(np.int32),
            "dishonesty_records": few(0.005, 3).astype(np.int32),
            "sentence_months": few(0.001, 36).astype(np.int32),
            "first_permit_date": _dates(first_permit),
        }
    ).with_columns(
        # Ids as the province's register writes them (text), dates of birth as 公安 sends them.
        resident_ids(pl.col("resident_id")),
        pl.col("birth_date").dt.to_string("%Y-%m-%d"),
        # An optional count the feed did not send: the policy's default fills it.
        pl.when(pl.Series(rng.random(count) < 0.02))
        .then(None)
        .otherwise(pl.col("volunteer_hours"))
        .alias("volunteer_hours"),
    )
    spoiled = {"bad_date": 0, "empty_required": 0, "undeclared_enum": 0, "duplicate_id": 0}
    if not spoil:
        return frame, spoiled
    kind = rng.random(count)
    edges = np.cumsum([BAD_DATE, EMPTY_REQUIRED, UNDECLARED_ENUM, DUPLICATE_ID])
    bad_date = kind < edges[0]
    empty = (kind >= edges[0]) & (kind < edges[1])
    undeclared = (kind >= edges[1]) & (kind < edges[2])
    duplicate = (kind >= edges[2]) & (kind < edges[3])
    empty_birth = empty & (rng.random(count) < 0.5)
    empty_registration = empty & ~empty_birth
    undeclared_education = undeclared & (rng.random(count) < 0.6)
    # A duplicate takes the id of a resident written before (another town, most often).
    earlier = rng.integers(0, max(start, 1), count) if start else rng.integers(0, count, count)
    frame = frame.with_columns(
        pl.when(pl.Series(bad_date))
        .then(pl.Series(BAD_DATES).gather(rng.integers(0, len(BAD_DATES), count)))
        .when(pl.Series(empty_birth))
        .then(pl.lit(""))
        .otherwise(pl.col("birth_date"))
        .alias("birth_date"),
        pl.when(pl.Series(empty_registration))
        .then(None)
        .otherwise(pl.col("residence_registration_date"))
        .alias("residence_registration_date"),
        pl.when(pl.Series(undeclared_education))
        .then(
            pl.Series(UNDECLARED["education"]).gather(
                rng.integers(0, len(UNDECLARED["education"]), count)
            )
        )
        .otherwise(pl.col("education"))
        .alias("education"),
        pl.when(pl.Series(undeclared & ~undeclared_education))
        .then(
            pl.Series(UNDECLARED["housing"]).gather(
                rng.integers(0, len(UNDECLARED["housing"]), count)
            )
        )
        .otherwise(pl.col("housing"))
        .alias("housing"),
        pl.when(pl.Series(duplicate))
        .then(resident_ids(pl.lit(pl.Series(earlier))))
        .otherwise(pl.col("resident_id"))
        .alias("resident_id"),
    )
    spoiled = {
        "bad_date": int(bad_date.sum()),
        "empty_required": int(empty.sum()),
        "undeclared_enum": int(undeclared.sum()),
        "duplicate_id": int(duplicate.sum()),
    }
    return frame, spoiled


def generate(folder: Path, size: int) -> dict[str, Any]:
    """The dataset of ``size`` residents under ``folder``, one town and ``CHUNK`` rows at a
    time; what was made (``made.json`` in the folder: reused when it matches)."""
    made_path = folder / "_made.json"
    if made_path.is_file():
        made: dict[str, Any] = json.loads(made_path.read_text())
        if made.get("size") == size and made.get("seed") == SEED:
            return made
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    towns = towns_for(size)
    rng = np.random.default_rng(SEED + size)
    weights = towns["weight"].to_numpy()
    per_town = rng.multinomial(size, weights / weights.sum())
    spoiled = {"bad_date": 0, "empty_required": 0, "undeclared_enum": 0, "duplicate_id": 0}
    start = files = 0
    for code, rows in zip(towns["town_code"], per_town, strict=True):
        town = folder / f"town_code={code}"
        town.mkdir()
        for part, offset in enumerate(range(0, int(rows), CHUNK)):
            count = min(CHUNK, int(rows) - offset)
            frame, spoiled_here = residents(rng, start, count)
            frame.write_parquet(town / f"part-{part:05d}.parquet")
            start += count
            files += 1
            for key, value in spoiled_here.items():
                spoiled[key] += value
    made = {
        "size": size,
        "seed": SEED,
        "towns": towns.height,
        "files": files,
        "bytes": sum(path.stat().st_size for path in folder.rglob("*.parquet")),
        "spoiled": spoiled,
        "seconds": time.perf_counter() - started,
    }
    made_path.write_text(json.dumps(made))
    return made


# --------------------------------------------------------------------------- memory


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """User and system CPU of a process so far, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _status(pid: int) -> tuple[str, int, int]:
    """(command name, resident set kB, its high-water mark kB) of a process."""
    name, rss, hwm = "", 0, 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Name:"):
                    name = line.split()[1]
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return name, rss, hwm


class TreeMemory:
    """Peak memory of this process and everything it starts (Spark's JVM, its Python workers),
    from /proc, sampled in a thread: each process's own high-water mark, and the largest sum of
    resident sets seen at once."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.high: dict[int, tuple[str, int]] = {}
        self.tree_peak_kb = 0
        self.cpu: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        me = os.getpid()
        tree = _children()
        pending, total = [(me, 0)], 0
        while pending:
            pid, parent = pending.pop()
            pending += [(child, pid) for child in tree.get(pid, [])]
            name, rss, hwm = _status(pid)
            # Counted: this process, the JVM it starts, the Python workers. Not the short-lived
            # helpers the JVM forks (Hadoop's shell commands): caught mid-fork, they show the
            # JVM's own memory a second time.
            if not (pid == me or (parent == me and name == "java") or name.startswith("python")):
                continue
            total += rss
            self.cpu[pid] = max(self.cpu.get(pid, 0), _cpu_ticks(pid))
            if hwm > self.high.get(pid, ("", 0))[1]:
                self.high[pid] = (name, hwm)
        self.tree_peak_kb = max(self.tree_peak_kb, total)

    def report(self) -> dict[str, float]:
        me = os.getpid()
        jvm = [hwm for pid, (name, hwm) in self.high.items() if pid != me and name == "java"]
        workers = [hwm for pid, (name, hwm) in self.high.items() if pid != me and name != "java"]
        return {
            "driver_mb": self.high.get(me, ("", 0))[1] / 1024,
            "jvm_mb": max(jvm, default=0) / 1024,
            "worker_mb": max(workers, default=0) / 1024,
            "tree_mb": self.tree_peak_kb / 1024,
            "tree_cpu": sum(self.cpu.values()) / TICKS,
        }


# --------------------------------------------------------------------------- one measurement


def measure_kernel(size: int) -> dict[str, Any]:
    """The kernel alone: clean inputs typed in memory, then ``CompiledPolicy.score`` timed."""
    from luodi.kernels.policy import CompiledPolicy, prepare_inputs

    compiled = CompiledPolicy.from_text(POLICY.read_text(encoding="utf-8"))
    rng = np.random.default_rng(SEED)
    parts = []
    for offset in range(0, size, CHUNK):
        frame, _ = residents(rng, offset, min(CHUNK, size - offset), spoil=False)
        parts.append(prepare_inputs(frame.drop("first_permit_date"), compiled.policy))
    typed = pl.concat(parts, rechunk=True)
    del parts
    compiled.score(typed, AS_OF)  # warm up: Polars' thread pool, the first allocations
    times = []
    for _ in range(KERNEL_REPEATS):
        started, cpu = time.perf_counter(), time.process_time()
        points = compiled.score(typed, AS_OF)
        times.append((time.perf_counter() - started, time.process_time() - cpu))
        assert points.height == size
        del points
    seconds, cpu_seconds = min(times)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": size}


def measure_dataset(
    engine: Literal["polars", "spark"], source: Path, output: Path
) -> dict[str, Any]:
    """``score_dataset`` on ``engine`` over the generated dataset (refused rows skipped)."""
    from luodi.kernels.policy import CompiledPolicy
    from luodi.scale.score import score_dataset

    compiled = CompiledPolicy.from_text(POLICY.read_text(encoding="utf-8"))
    start_seconds = 0.0
    if engine == "spark":
        from luodi.scale.spark import session

        started = time.perf_counter()
        # The driver's JVM is sized here, before score_dataset asks for the same session.
        session(MASTER, **{"spark.driver.memory": DRIVER_MEMORY})
        start_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = score_dataset(
        compiled,
        source,
        output,
        AS_OF,
        engine=engine,
        on_refused="skip",
        master=MASTER if engine == "spark" else None,
    )
    seconds = time.perf_counter() - started
    written = sum(path.stat().st_size for path in output.rglob("*.parquet"))
    return {
        "seconds": seconds,
        "start_seconds": start_seconds,
        "rows": result.residents,
        "refused_rows": result.refused_records,
        "refused_reasons": result.refused_reasons,
        "written_bytes": written,
    }


def run_one(arguments: argparse.Namespace) -> None:
    """In a new process: one measurement, its result as one JSON line on stdout."""
    measurements: dict[str, Callable[[], dict[str, Any]]] = {
        "kernel": lambda: measure_kernel(arguments.size),
        "polars": lambda: measure_dataset("polars", arguments.input, arguments.output),
        "spark": lambda: measure_dataset("spark", arguments.input, arguments.output),
    }
    with TreeMemory() as memory:
        result = measurements[arguments.run]()
    print(json.dumps(result | memory.report()), flush=True)


def in_new_process(*arguments: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- the whole bench


def memory_mb(field: str = "MemTotal") -> float:
    """A line of /proc/meminfo in MiB (``MemAvailable``: what can be had without swapping)."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def crossover(points: list[tuple[int, float, float]], unit: str = "s") -> str:
    """Where Spark's fixed cost is paid back, from (rows, Polars s, Spark s): a line through
    each engine's measured seconds."""
    if len(points) < 2:
        return "needs two sizes measured on both engines"
    rows = np.array([point[0] for point in points], dtype=np.float64)
    polars_slope, polars_fixed = np.polyfit(rows, [point[1] for point in points], 1)
    spark_slope, spark_fixed = np.polyfit(rows, [point[2] for point in points], 1)
    line = (
        f"Polars ≈ {polars_fixed:.1f} {unit} + {polars_slope * 1e6:.1f} {unit} per million "
        f"rows; Spark local[2] ≈ {spark_fixed:.1f} {unit} + {spark_slope * 1e6:.1f} {unit} per "
        "million rows"
    )
    if spark_slope >= polars_slope:
        return (
            f"{line}: on one 2-core machine Spark never catches up (each row costs it more); "
            "it pays where the data no longer fits one machine's memory, or with more cores"
        )
    at = (spark_fixed - polars_fixed) / (polars_slope - spark_slope)
    return f"{line}: Spark is faster past about {max(at, 0) / 1e6:,.1f} million rows"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 25_000_000])
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "spark-bench")
    parser.add_argument("--keep", action="store_true", help="keep the generated datasets")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--fresh", action="store_true", help="measure again what was kept")
    parser.add_argument("--run", choices=["kernel", "polars", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        run_one(arguments)
        return

    ram_mb = memory_mb()
    load_before = os.getloadavg()[0]
    data = arguments.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    results = Results(data / "_results.json", fresh=arguments.fresh)
    report = Report(arguments, ram_mb, load_before)
    polars_mb_per_row = 0.0
    for size in sorted(arguments.sizes):
        source = data / f"inputs-{size}"
        print(f"{size:,} residents: generating …", flush=True)
        made = generate(source, size)
        print(f"  {made}", flush=True)

        def keep(kind: str, result: dict[str, Any], size: int = size) -> None:
            print(f"  {kind}: {result}", flush=True)
            report.add(size, kind, result)
            if not arguments.no_docs:
                write_section(SECTION, report.body())

        report.start(size, made)
        keep("kernel", results.get(f"kernel-{size}", "--run", "kernel", "--size", str(size)))

        projected = polars_mb_per_row * size
        available = memory_mb("MemAvailable")
        if polars_mb_per_row and projected > POLARS_MEMORY_SHARE * available:
            keep(
                "polars",
                {
                    "skipped": f"not run: ≈ {projected / 1024:,.0f} GiB projected from the "
                    f"size before, {available / 1024:,.0f} GiB available"
                },
            )
        else:
            output = data / f"scored-polars-{size}"
            polars = results.get(
                f"polars-{size}", "--run", "polars", "--input", str(source), "--output", str(output)
            )
            remove_output(output)
            if "tree_mb" in polars:
                # The largest size measured: at the small ones the process's own start dominates.
                polars_mb_per_row = polars["tree_mb"] / size
            keep("polars", polars)

        output = data / f"scored-spark-{size}"
        keep(
            "spark",
            results.get(
                f"spark-{size}", "--run", "spark", "--input", str(source), "--output", str(output)
            ),
        )
        remove_output(output)
        report.memory(polars_mb_per_row)
        if not arguments.keep:
            shutil.rmtree(source, ignore_errors=True)
    print(report.body())
    if not arguments.no_docs:
        write_section(SECTION, report.body())


def remove_output(output: Path) -> None:
    shutil.rmtree(output, ignore_errors=True)
    output.with_name(output.name + ".refused.csv").unlink(missing_ok=True)


class Results:
    """What was measured, kept in the data folder: a run stopped part way (a shared machine,
    a long Spark run) goes on from where it stopped; ``--fresh`` measures everything again."""

    def __init__(self, path: Path, *, fresh: bool) -> None:
        self.path = path
        self.kept: dict[str, dict[str, Any]] = (
            {} if fresh or not path.is_file() else json.loads(path.read_text())
        )

    def get(self, key: str, *arguments: str) -> dict[str, Any]:
        if key in self.kept:
            return self.kept[key]
        result = in_new_process(*arguments)
        if "seconds" in result:
            self.kept[key] = result
            self.path.write_text(json.dumps(self.kept, indent=1))
        return result


class Report:
    """The section of docs/benchmarks.md, rewritten after every measurement."""

    def __init__(self, arguments: argparse.Namespace, ram_mb: float, load_before: float) -> None:
        self.sizes: list[int] = sorted(arguments.sizes)
        self.ram_mb = ram_mb
        self.load_before = load_before
        self.rows: dict[int, list[str]] = {}
        self.made: dict[int, dict[str, Any]] = {}
        self.measured: dict[int, dict[str, dict[str, Any]]] = {}
        self.generated: dict[int, str] = {}
        self.both: dict[int, tuple[int, float, float]] = {}
        self.both_cpu: dict[int, tuple[int, float, float]] = {}
        self.polars_mb_per_row = 0.0

    def start(self, size: int, made: dict[str, Any]) -> None:
        self.made[size] = made
        self.measured[size] = {}

    def add(self, size: int, kind: str, result: dict[str, Any]) -> None:
        self.measured[size][kind] = result
        made, measured = self.made[size], self.measured[size]
        spoiled = made["spoiled"]
        injected = (
            spoiled["bad_date"]
            + spoiled["empty_required"]
            + spoiled["undeclared_enum"]
            + 2 * spoiled["duplicate_id"]
        )
        text = (
            f"{size:,}: {made['towns']} towns, {made['files']} files, "
            f"{made['bytes'] / 2**20:,.0f} MiB ({made['bytes'] / size:.0f} B/row), "
            f"{made['seconds']:.1f} s to generate"
        )
        spark = measured.get("spark", {})
        polars = measured.get("polars", {})
        if "written_bytes" in spark:
            text += f"; scored output {spark['written_bytes'] / 2**20:,.0f} MiB"
        self.generated[size] = text
        if "seconds" in polars and "seconds" in spark:
            self.both[size] = (size, polars["seconds"], spark["start_seconds"] + spark["seconds"])
            self.both_cpu[size] = (size, polars["tree_cpu"], spark["tree_cpu"])
        self.rows[size] = row(size, injected, measured)

    def memory(self, polars_mb_per_row: float) -> None:
        self.polars_mb_per_row = polars_mb_per_row

    def body(self) -> str:
        table = markdown_table(
            [
                "residents",
                "refused (made / found)",
                "Polars kernel",
                "Polars end to end",
                "Polars peak",
                "Spark start",
                "Spark score",
                "Spark rows/s",
                "Spark peak: driver Python / JVM / worker / all",
            ],
            [self.rows[size] for size in sorted(self.rows)],
        )
        where = crossover([self.both[size] for size in sorted(self.both)])
        if self.polars_mb_per_row:
            where += (
                f". Memory: Polars end to end peaked at "
                f"{self.polars_mb_per_row * 1e6 / 1024:.1f} GiB per million residents, so this "
                f"machine's {self.ram_mb / 1024:,.0f} GiB holds about "
                f"{self.ram_mb / self.polars_mb_per_row / 1e6:,.0f} million at most; Spark "
                "streams partitions through a driver of fixed size"
            )
        load_now = os.getloadavg()[0]
        return (
            f"`python bench/spark.py --sizes {' '.join(str(size) for size in self.sizes)}` "
            f"on {os.cpu_count()} cores and {self.ram_mb / 1024:,.0f} GiB of memory (no swap), "
            f"policy `{POLICY.relative_to(ROOT)}` as of {AS_OF}. The inputs are generated as "
            f"Parquet partitioned by `town_code` (a file of at most {CHUNK:,} rows per town; "
            "18-digit text ids, text dates of birth, integer months, enums as words, a carried "
            "`first_permit_date`) with a small share spoiled on purpose (dates that do not "
            "exist, empty required values, undeclared enum values, ids sent twice — both "
            "copies are refused): "
            + "; ".join(self.generated[size] for size in sorted(self.generated))
            + ".\n\n"
            "Each measurement is a new process. *Polars kernel*: clean inputs typed in memory, "
            f"`CompiledPolicy.score` alone, the best of {KERNEL_REPEATS} after a warm-up "
            "(residents per second). *Polars end to end*: "
            '`score_dataset(engine="polars")` — read the partitions, check every row, score, '
            "write the scored dataset and the refused rows. *Spark start*: the "
            f"`{MASTER}` session with `spark.driver.memory={DRIVER_MEMORY}` (JVM start-up); "
            '*Spark score*: `score_dataset(engine="spark")` on it, the same work. Peak memory '
            "from /proc, sampled every 0.2 s: each process's own high-water mark — the driver "
            "Python, Spark's JVM (in local mode also the executor), the largest Python worker "
            "— and *all*, the largest sum of resident sets of the process tree at once. *CPU*: "
            "user and system seconds of all threads — the kernel's for the scoring alone; for "
            "the dataset runs, the whole process tree's, start-up included (on a shared "
            "machine CPU is steadier than wall time). *Refused*: rows spoiled by the "
            "generator / distinct rows refused by the run. Load average (1 min) "
            f"{self.load_before:.1f} at the start, {load_now:.1f} when last written.\n\n"
            f"{table}\n\nCrossover (seconds as a line through the sizes measured on both "
            f"engines, Spark including its start): {where}. The same by CPU seconds (the "
            "whole process tree, start-up included; what an idle machine would spend): "
            f"{crossover([self.both_cpu[size] for size in sorted(self.both_cpu)], 'CPU s')}.\n"
        )


def rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    return f"{per_second / 1e3:,.0f} k/s"


def row(size: int, injected: int, measured: dict[str, dict[str, Any]]) -> list[str]:
    kernel = measured.get("kernel", {"skipped": "…"})
    polars = measured.get("polars", {"skipped": "…"})
    spark = measured.get("spark", {"skipped": "running …" if "polars" in measured else "…"})

    def failed(result: dict[str, Any]) -> str:
        return str(result.get("skipped") or f"failed: {' '.join(result.get('error', []))[:120]}")

    kernel_cell = (
        f"{size / kernel['seconds'] / 1e6:.1f} M/s ({kernel['seconds']:.2f} s, "
        f"CPU {kernel['cpu_seconds']:.2f} s)"
        + (" ✓" if size / kernel["seconds"] >= KERNEL_TARGET else " **below 5 M/s**")
        if "seconds" in kernel
        else failed(kernel)
    )
    if "seconds" in polars:
        polars_cells = [
            f"{polars['seconds']:.1f} s ({rate(polars['rows'] / polars['seconds'])}; "
            f"CPU {polars['tree_cpu']:.0f} s)",
            f"{polars['tree_mb'] / 1024:,.1f} GiB",
        ]
    else:
        polars_cells = [failed(polars), ""]
    found = spark.get("refused_rows", polars.get("refused_rows", "?"))
    if "seconds" in spark:
        spark_cells = [
            f"{spark['start_seconds']:.1f} s",
            f"{spark['seconds']:.1f} s (CPU {spark['tree_cpu']:.0f} s)",
            rate(spark["rows"] / spark["seconds"]),
            f"{spark['driver_mb'] / 1024:.1f} / {spark['jvm_mb'] / 1024:.1f} / "
            f"{spark['worker_mb'] / 1024:.1f} / {spark['tree_mb'] / 1024:.1f} GiB",
        ]
    else:
        spark_cells = ["", failed(spark), "", ""]
    return [
        f"{size:,}",
        f"{injected:,} / {found:,}" if isinstance(found, int) else f"{injected:,} / ?",
        kernel_cell,
        *polars_cells,
        *spark_cells,
    ]


if __name__ == "__main__":
    main()
