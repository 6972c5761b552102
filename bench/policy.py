"""Score 100,000 / 1,000,000 / 5,000,000 residents with the default policy from Parquet; print
and record compile time, compute throughput, the whole `luodi policy score` command, peak
memory, and a plain per-row Python evaluation of the same policy on 100,000 rows.

    python bench/policy.py [--sizes 100000 1000000 5000000]

Targets (issue 3): over 5 million residents/s compute on 2 cores; the 1,000,000-resident
`luodi policy score` command in under 3 seconds end to end.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi.kernels.policy import CompiledPolicy, prepare_inputs

POLICY = Path(__file__).resolve().parent.parent / "policies" / "zj-cixi" / "2026.1.yaml"
AS_OF = date(2026, 3, 1)
PER_ROW_SAMPLE = 100_000


def population(count: int, seed: int = 2026) -> pl.DataFrame:
    """Inputs shaped like the synthetic city's (docs/policy.md), drawn with NumPy."""
    rng = np.random.default_rng(seed)
    epoch = np.datetime64("1970-01-01")
    birth = np.datetime64("1966-01-01") + rng.integers(0, 40 * 365, count)
    registered = np.datetime64("2008-01-01") + rng.integers(0, 18 * 365, count)

    def choice(values: list[str], weights: list[float]) -> np.ndarray:
        return np.asarray(values)[
            rng.choice(len(values), count, p=np.asarray(weights) / sum(weights))
        ]

    return pl.DataFrame(
        {
            "resident_id": np.arange(count, dtype=np.int64),
            "birth_date": pl.Series((birth - epoch).astype(np.int32)).cast(pl.Date),
            "education": choice(
                ["none", "junior_high", "senior_high", "associate", "bachelor", "master", "doctor"],
                [14.5, 52.1, 17.1, 10.5, 5.3, 0.45, 0.05],
            ),
            "skill_level": choice(
                ["none", "junior", "intermediate", "senior", "technician", "senior_technician"],
                [75, 12, 8, 4, 0.8, 0.2],
            ),
            "social_insurance_months": rng.integers(0, 150, count),
            "local_social_insurance_months": rng.integers(0, 100, count),
            "residence_registration_date": pl.Series((registered - epoch).astype(np.int32)).cast(
                pl.Date
            ),
            "continuous_employment_months": rng.integers(0, 60, count),
            "housing": choice(["none", "dormitory", "registered_rental", "owned"], [40, 30, 25, 5]),
            "volunteer_hours": rng.gamma(1.0, 20.0, count).round(1),
            "blood_donation_ml": rng.choice([0, 200, 400, 800], count, p=[0.85, 0.08, 0.05, 0.02]),
            "detentions": (rng.random(count) < 0.01).astype(np.int64),
        }
    )


def children_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    args = parser.parse_args()
    text = POLICY.read_text(encoding="utf-8")

    started = time.perf_counter()
    compiled = CompiledPolicy.from_text(text)
    compile_ms = (time.perf_counter() - started) * 1000

    rows: list[list[str]] = []
    per_row_rate = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            source = Path(folder) / f"in-{size}.parquet"
            output = Path(folder) / f"out-{size}.parquet"
            population(size).write_parquet(source)

            frame = pl.read_parquet(source)
            typed = prepare_inputs(frame, compiled.policy)
            compiled.score(typed.head(1000), AS_OF)  # warm up
            started = time.perf_counter()
            compiled.score(typed, AS_OF)
            compute = time.perf_counter() - started
            started = time.perf_counter()
            prepare_inputs(frame, compiled.policy)
            prepare = time.perf_counter() - started

            if not per_row_rate:
                sample = typed.head(PER_ROW_SAMPLE).drop("resident_id").to_dicts()
                started = time.perf_counter()
                for row in sample:
                    compiled.score_row(row, AS_OF)
                per_row_rate = len(sample) / (time.perf_counter() - started)

            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "luodi",
                    "policy",
                    "score",
                    "--policy",
                    str(POLICY),
                    "--input",
                    str(source),
                    "--output",
                    str(output),
                    "--as-of",
                    str(AS_OF),
                ],
                check=True,
                capture_output=True,
            )
            end_to_end = time.perf_counter() - started
            rate = size / compute
            rows.append(
                [
                    f"{size:,}",
                    f"{compile_ms:.1f} ms",
                    f"{prepare:.3f} s",
                    f"{compute:.3f} s",
                    f"{rate / 1e6:.1f} M/s",
                    f"{end_to_end:.2f} s",
                    f"{children_peak_mib():,.0f} MiB",
                    f"{per_row_rate:,.0f} /s",
                    f"{rate / per_row_rate:,.0f}×",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)

    table = markdown_table(
        [
            "residents",
            "compile",
            "type inputs",
            "compute (Polars)",
            "throughput",
            "`luodi policy score` end to end",
            "peak memory (command)",
            f"per-row Python ({PER_ROW_SAMPLE:,} rows)",
            "columnar / per-row",
        ],
        rows,
    )
    body = (
        f"Policy `{POLICY.relative_to(POLICY.parents[2])}` (20 indicators, 4 groups), as of {AS_OF}, "
        "inputs from Parquet. *Compute* is the scoring query on typed inputs in memory; "
        "*type inputs* checks and types the raw columns; *end to end* is the whole command in a "
        "new process (start-up, read Parquet, check, score, write Parquet). Peak memory is the "
        "largest command process so far. Targets: > 5 M residents/s compute; 1 M residents end "
        "to end < 3 s.\n\n" + table
    )
    print(table)
    write_section("policy scoring", body)


if __name__ == "__main__":
    main()
