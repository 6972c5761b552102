"""Insurance by month on the synthetic city's social- and medical-insurance records: wall and
CPU time of the insurance kernel over the whole population, beside a plain sum of the same
records (what scoring did before: every year's total summed), and what it found.

    python bench/insurance.py [--sizes 100000 1000000]

The city comes from ``luodi synth`` (monthly records for the last two years, yearly totals
before, some back payments, medical schemes); only ``kernels.timeline.insurance`` is timed, on
frames already in memory (reading the facts is timed with ``luodi score``: bench/scoring.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import markdown_table, write_section
from luodi.kernels.feeds.checks import parse_bool, parse_period, period_end, period_start
from luodi.kernels.timeline import insurance
from luodi.registry import city_files
from luodi.synth.generator import SynthOptions
from luodi.synth.service import write_city

AS_OF = date(2026, 3, 1)


def records(folder: Path, file: str, people: pl.DataFrame) -> pl.DataFrame:
    """A feed file as the kernel reads it (the facts' periods, months, back-paid, scheme)."""
    frame = pl.read_csv(folder / file, infer_schema=False).join(people, on="id_number")
    period = parse_period(pl.col("period"))
    return frame.select(
        insurance.RESIDENT,
        period_start(period).alias(insurance.START),
        period_end(period).alias(insurance.END),
        pl.col("months_paid").cast(pl.Int64).alias(insurance.MONTHS_PAID),
        parse_bool(pl.col("back_paid")).alias(insurance.BACK_PAID)
        if "back_paid" in frame.columns
        else pl.lit(None, pl.Boolean).alias(insurance.BACK_PAID),
        (pl.col("scheme") if "scheme" in frame.columns else pl.lit(None, pl.String)).alias(
            insurance.SCHEME
        ),
    )


def timed(work: object, runs: int) -> tuple[float, float, pl.DataFrame]:
    walls, cpus = [], []
    result = pl.DataFrame()
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    rows = []
    for size in options.sizes:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            write_city(SynthOptions(residents=size, seed=2026), folder)
            people = (
                pl.read_csv(folder / city_files.RESIDENTS, infer_schema=False)
                .select("id_number")
                .with_row_index(insurance.RESIDENT)
                .with_columns(pl.col(insurance.RESIDENT).cast(pl.Int64))
            )
            social = records(folder, city_files.SOCIAL_INSURANCE, people)
            medical = records(folder, city_files.MEDICAL_INSURANCE, people)
        for kind, frame, scheme in (
            ("social", social, None),
            ("employee medical", medical, "employee"),
        ):
            wall, cpu, result = timed(
                lambda frame=frame, scheme=scheme: insurance.insurance_as_of(frame, AS_OF, scheme),
                options.runs,
            )
            plain, _, _ = timed(
                lambda frame=frame: (
                    frame.filter(pl.col(insurance.START) <= AS_OF)
                    .group_by(insurance.RESIDENT)
                    .agg(pl.col(insurance.MONTHS_PAID).sum())
                ),
                options.runs,
            )
            current = int(result.get_column(insurance.CURRENT).sum())
            year = result.filter(pl.col(insurance.CONTINUOUS) >= 12).height
            rows.append(
                [
                    f"{size:,}",
                    kind,
                    f"{frame.height:,}",
                    f"{wall:.2f} s",
                    f"{cpu:.2f} s",
                    f"{plain:.2f} s",
                    f"{current:,} of {result.height:,}",
                    f"{year:,}",
                ]
            )
            print(rows[-1], flush=True)
    table = markdown_table(
        [
            "residents",
            "insurance",
            "records",
            "kernel wall (best)",
            "kernel CPU",
            "plain sum (before)",
            f"current on {AS_OF}",
            "continuous ≥ 12",
        ],
        rows,
    )
    print(table)
    write_section(
        "insurance by month",
        f"`python bench/insurance.py`: `kernels.timeline.insurance.insurance_as_of` over the "
        f"synthetic city's records (`luodi synth`), as of {AS_OF}, best of {options.runs} "
        "runs, beside a plain sum of the same records (how months were counted before: every "
        "year's total, whole). CPU time is the steadier figure when other work shares the "
        "cores.\n\n" + table,
    )


if __name__ == "__main__":
    main()
