"""The permit time line kernel on the synthetic city's permits and endorsements: wall and CPU
time of one pass over the whole population, and what it found.

    python bench/timeline.py [--sizes 100000 1000000]

The city comes from ``luodi synth`` (permit histories, yearly endorsements, some late, some
lapsed); only ``kernels.timeline.permit_timeline`` is timed, on frames already in memory (the
registry's reads are timed with ``luodi score``, bench/policy.py and docs/benchmarks.md "CLI").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi.kernels.timeline import permit_timeline
from luodi.registry import city_files
from luodi.synth.generator import SynthOptions
from luodi.synth.service import write_city

AS_OF = date(2026, 3, 1)


def frames(residents: int, folder: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Permits and endorsements of a synthetic city, keyed by a resident number."""
    write_city(SynthOptions(residents=residents, seed=2026), folder)
    people = (
        pl.read_csv(folder / city_files.RESIDENTS, infer_schema=False)
        .select("id_number")
        .with_row_index("resident_id")
        .with_columns(pl.col("resident_id").cast(pl.Int64))
    )
    permits = (
        pl.read_csv(folder / city_files.PERMITS, infer_schema=False)
        .join(people, on="id_number")
        .select(
            "resident_id",
            "permit_number",
            pl.col("issue_date", "expiry_date").str.to_date(),
            pl.col("status").fill_null("valid"),
        )
    )
    endorsements = (
        pl.read_csv(folder / city_files.PERMIT_ENDORSEMENTS, infer_schema=False)
        .join(people, on="id_number")
        .select("resident_id", "permit_number", pl.col("endorsed_on").str.to_date())
    )
    return permits, endorsements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for size in options.sizes:
        with tempfile.TemporaryDirectory() as folder:
            permits, endorsements = frames(size, Path(folder))
        walls, cpus, with_reasons = [], [], []
        for _ in range(options.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            permit_timeline(permits, endorsements, AS_OF, reasons=False)  # as scoring reads it
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            wall = time.perf_counter()
            result = permit_timeline(permits, endorsements, AS_OF)
            with_reasons.append(time.perf_counter() - wall)
        states = dict(result.group_by("permit_state").len().iter_rows())
        late = result.filter(pl.col("reason_en").str.starts_with("late endorsement")).height
        rows.append(
            [
                f"{size:,}",
                f"{permits.height:,}",
                f"{endorsements.height:,}",
                f"{min(walls):.2f} s",
                f"{min(cpus):.2f} s",
                f"{min(with_reasons):.2f} s",
                " · ".join(f"{state} {count:,}" for state, count in sorted(states.items())),
                f"{late:,}",
            ]
        )
        print(rows[-1], flush=True)
    table = markdown_table(
        [
            "residents",
            "permits",
            "endorsements",
            "kernel wall (best)",
            "kernel CPU",
            "wall with reasons",
            "states on 2026-03-01",
            "span from a late endorsement",
        ],
        rows,
    )
    write_section(
        "permit time line",
        "`python bench/timeline.py`: `kernels.timeline.permit_timeline` over the synthetic "
        "city's permits and endorsements (`luodi synth`), as of 2026-03-01, best of "
        f"{options.runs} runs; without the reasons (as `luodi score` reads it) and with them "
        f"(as a page of explanations would). Load average {load:.1f} when it started: wall "
        f"time waits for the CPU on a busy machine, CPU time much less.\n\n{table}",
    )


if __name__ == "__main__":
    main()
