"""A population of raw policy inputs as a city would hand them over (text, as from a CSV), with
records of every kind the checks refuse, written as a dataset partitioned by town."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from luodi.kernels.policy import CompiledPolicy
from luodi.scale.layout import write_partitioned

REPOSITORY = Path(__file__).resolve().parents[2]
POLICY = REPOSITORY / "policies" / "zj-cixi" / "2026.1.yaml"
AS_OF = date(2026, 3, 1)

TRICKY: dict[str, list[str | None]] = {
    # Written so that one parser or another would read them differently: the shared grammar
    # decides (kernels/policy/inputs.py DATE_PATTERN, NUMBER_PATTERN).
    "social_insurance_months": [
        " 12 ",
        "1e2",
        "61.0",
        "+3",
        "-0",
        "inf",
        "nan",
        "0x10",
        "1.5d",
        "1_000",
        "1.5",
        "9223372036854775808",
        "\u300024",
        "\t7\n",
        "",
        "  ",
        None,
        ".5",
        "5.",
        "１２",
    ],
    "birth_date": [
        "1990-1-5",
        "1990/01/05",
        "19900105",
        "1990.1.5",
        "+1990-01-05",
        "1990-01/05",
        "1990-13-01",
        "1990-02-30",
        "2000-02-29",
        "1990-001-05",
        " 1990-01-05 ",
        "\u30001990-01-05",
        "0000-01-01",
        "",
        None,
        "1990-1-5x",
        "１９９０-01-05",
        "1990/1/5",
        "19901305",
        "1990.01.05",
    ],
    "social_insurance_current": [
        "true",
        "TRUE",
        "Yes",
        "y",
        "是",
        "有",
        "否",
        "无",
        "0",
        "1",
        "2",
        "真",
        " no ",
        "",
        None,
        "\u3000是",
        "t",
        "F",
        "off",
        "1.0",
    ],
    "education": [
        "bachelor",
        " master ",
        "Bachelor",
        "phd",
        "",
        None,
        "\u3000doctor",
        "none",
        "x",
        "本科",
        "bachelor",
        "junior_high",
        "senior_high",
        "associate",
        "master",
        "doctor",
        "n/a",
        "bachelor ",
        "\tnone",
        "NONE",
    ],
    "volunteer_hours": [
        "1.5",
        "2e1",
        "-inf",
        "NaN",
        "3",
        "",
        None,
        " 4.25 ",
        "1,5",
        "0.1",
        "1e400",
        "7.",
        "+.5",
        "-2",
        "1e-3",
        "٣",
        "10",
        "x",
        "0",
        "00012",
    ],
}


def raw_population(count: int, seed: int = 7) -> pl.DataFrame:
    """``count`` residents, all inputs as text; about 1 % of records carry a tricky value in
    one column, and a few ids repeat or are empty."""
    index = pl.int_range(count, eager=True)
    frame = pl.DataFrame(
        {
            "resident_id": index.cast(pl.String).str.zfill(7),
            "town_code": (330_282_001 + index % 19).cast(pl.String),
            "birth_date": pl.date_range(date(1960, 1, 1), date(2005, 12, 31), eager=True)
            .sample(count, with_replacement=True, seed=seed)
            .dt.strftime("%Y-%m-%d"),
            "education": pl.Series(
                ["none", "junior_high", "senior_high", "associate", "bachelor", "master"]
            ).sample(count, with_replacement=True, seed=seed + 1),
            "skill_level": pl.Series(["none", "junior", "senior", "technician"]).sample(
                count, with_replacement=True, seed=seed + 2
            ),
            "social_insurance_months": (index * 7 % 130).cast(pl.String),
            "social_insurance_current": (index % 3 == 0).cast(pl.String),
            "residence_registration_date": pl.date_range(
                date(2005, 1, 1), date(2026, 2, 1), eager=True
            )
            .sample(count, with_replacement=True, seed=seed + 3)
            .dt.strftime("%Y/%m/%d"),
            "volunteer_hours": ((index % 300).cast(pl.Float64) * 1.5).cast(pl.String),
            "sentence_months": ((index % 97 == 0).cast(pl.Int64) * 3).cast(pl.String),
            "employment_basis": pl.Series(["labour_contract", "business_licence", None]).sample(
                count, with_replacement=True, seed=seed + 4
            ),
        }
    )
    for offset, (column, values) in enumerate(TRICKY.items()):
        rows = pl.int_range(count, eager=True) % 97 == offset  # ~1 % per column
        picked = pl.Series(values * (count // len(values) + 1))[:count]
        frame = frame.with_columns(
            pl.when(rows).then(picked).otherwise(pl.col(column)).alias(column)
        )
    every = max(count // 50, 1)
    return frame.with_columns(
        resident_id=pl.when(index % every == 3)
        .then(pl.lit("0000001"))
        .when(index % every == 5)
        .then(pl.lit(" "))
        .when(index % every == 6)
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("resident_id"))
    )


def write_dataset(frame: pl.DataFrame, root: Path) -> Path:
    write_partitioned(frame, root, ["town_code"])
    return root


def compiled_policy() -> CompiledPolicy:
    return CompiledPolicy.from_text(POLICY.read_text(encoding="utf-8"))
