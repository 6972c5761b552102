"""From the forecast to the warnings' consequences: the children expected to find no seat (the
allocation kernel run on a synthetic intake) and what would change each yellow or red row."""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from luodi.kernels.forecast import RED, YELLOW

UNPLACED_SCHEMA: Final = {
    "town_code": pl.String,
    "school_year": pl.Int32,
    "grade": pl.Int8,
    "expected_unplaced": pl.Int64,
}
CHANGE_SCHEMA: Final = {
    "town_code": pl.String,
    "school_id": pl.String,
    "school_year": pl.Int32,
    "grade": pl.Int8,
    "warning": pl.String,
    "text_zh": pl.String,
    "text_en": pl.String,
}
SEED: Final = "forecast"
"""The lottery seed of the synthetic intake: all its applicants are alike, so the seed decides
only who is left without a seat, never how many."""


def synthetic_applicants(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per town, school year and grade: round(expected) children, each school the first choice
    of its share of them (largest remainders) and the town's other schools after it, by share;
    the capacities are the planned seats. Targets are ``school|year|grade``."""
    towns = rows.filter(pl.col("school_id") == "").select(
        "town_code", "school_year", "grade", n=pl.col("expected").round(0).cast(pl.Int64)
    )
    keys = ["town_code", "school_year", "grade"]
    schools = (
        rows.filter(pl.col("school_id") != "")
        .join(towns, on=keys)
        .with_columns(
            target=pl.format("{}|{}|{}", "school_id", "school_year", "grade"),
            share=pl.col("expected") / pl.col("expected").sum().over(keys),
        )
        .with_columns(share=pl.col("share").fill_nan(None).fill_null(1 / pl.len().over(keys)))
        .sort([*keys, "share", "school_id"], descending=[False, False, False, True, False])
        .with_columns(
            exact=pl.col("n") * pl.col("share"),
            position=pl.int_range(pl.len()).over(keys),
        )
        .with_columns(base=pl.col("exact").floor().cast(pl.Int64))
        .with_columns(
            extra=(
                pl.col("exact").sub(pl.col("base")).rank("ordinal", descending=True).over(keys)
                <= pl.col("n") - pl.col("base").sum().over(keys)
            ).cast(pl.Int64)
        )
        .with_columns(first_choices=pl.col("base") + pl.col("extra"))
    )
    order = schools.group_by(keys).agg(ordered=pl.col("target"))
    people = (
        schools.join(order, on=keys)
        .with_columns(
            choices=pl.concat_list(
                pl.col("ordered").list.slice(pl.col("position")),
                pl.col("ordered").list.head(pl.col("position")),
            )
        )
        .select(*keys, "choices", pl.col("first_choices").alias("count"))
    )
    # Towns with expected children but no school planned: they choose nothing.
    bare = towns.join(schools.select(keys).unique(), on=keys, how="anti").select(
        *keys, choices=pl.lit([], pl.List(pl.String)), count="n"
    )
    everyone = (
        pl.concat([people, bare], how="vertical_relaxed")
        .filter(pl.col("count") > 0)
        .select(*keys, "choices", index=pl.int_ranges(pl.col("count")))
        .explode("index")
        .with_row_index("row")
        .select(
            *keys,
            applicant_id=pl.col("row").cast(pl.String),
            points=pl.lit(0.0),
            priority_group=pl.lit(0, pl.Int64),
            choices="choices",
        )
    )
    capacities = schools.select(
        target_id="target", capacity=pl.col("seats").cast(pl.Int64).clip(lower_bound=0)
    )
    return everyone, capacities


def expected_unplaced(rows: pl.DataFrame) -> pl.DataFrame:
    """``town_code, school_year, grade, expected_unplaced``: the allocation kernel run on the
    forecast (``synthetic_applicants``) — who finds no seat among the town's schools."""
    from luodi.kernels.allocation import Method
    from luodi.kernels.allocation.frames import allocate

    keys = ["town_code", "school_year", "grade"]
    towns = rows.filter(pl.col("school_id") == "").select(keys)
    applicants, capacities = synthetic_applicants(rows)
    if applicants.height == 0:
        return towns.with_columns(expected_unplaced=pl.lit(0, pl.Int64)).select(
            pl.col(name).cast(kind) for name, kind in UNPLACED_SCHEMA.items()
        )
    outcome = allocate(Method.DEFERRED_ACCEPTANCE, applicants, capacities, SEED).frame
    left = (
        applicants.select(*keys, "applicant_id")
        .join(outcome.select("applicant_id", "target_id"), on="applicant_id")
        .group_by(keys)
        .agg(expected_unplaced=pl.col("target_id").is_null().sum())
    )
    return (
        towns.join(left, on=keys, how="left")
        .with_columns(pl.col("expected_unplaced").fill_null(0))
        .select(pl.col(name).cast(kind) for name, kind in UNPLACED_SCHEMA.items())
        .sort(keys)
    )


def _percent(value: float) -> str:
    return f"{value * 100:.1f}"


def warning_changes(rows: pl.DataFrame, towns: dict[str, str]) -> pl.DataFrame:
    """For each yellow or red row, what would change its warning: the seats to add to go
    green; the yearly change of the net inflow over the row's horizon that would lower it one
    step; for a yellow row, the children new housing would have to add to make it red; for a
    town, moving children by a boundary change to the town with the most room that
    year (room: children it can take and stay green)."""
    out: list[tuple[str, str, int, int, str, str, str]] = []
    flagged = rows.filter(pl.col("warning") != "green")
    town_rows = rows.filter(pl.col("school_id") == "").with_columns(
        # The children it can take and stay green: expected + X < 0.9 × seats.
        room=((pl.col("seats") * YELLOW - pl.col("expected")).ceil() - 1).cast(pl.Int64)
    )
    # Per year and grade, the towns with room, the most first (two: one may be the row's).
    best: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for code, year, grade, room in (
        town_rows.filter(pl.col("room") > 0)
        .sort("room", "town_code", descending=[True, False])
        .group_by("school_year", "grade", maintain_order=True)
        .head(2)
        .select("town_code", "school_year", "grade", "room")
        .iter_rows()
    ):
        best.setdefault((year, grade), []).append((code, room))
    for row in flagged.iter_rows(named=True):
        town, school, year, grade = (
            row["town_code"],
            row["school_id"],
            row["school_year"],
            row["grade"],
        )
        expected, seats, warning = float(row["expected"]), int(row["seats"]), row["warning"]
        horizon = int(row.get("horizon") or 1)
        key = (town, school, year, grade, warning)
        # Green when expected < 0.9 × seats: the smallest whole number of seats with that.
        green_seats = math.floor(expected / YELLOW) + 1
        add = max(green_seats - seats, 1)
        out.append(
            (
                *key,
                f"新增学位 {add} 个可转为绿色（规划学位 {seats} → {seats + add}）",
                f"new seats needed: {add} to go green (planned {seats} → {seats + add})",
            )
        )
        if seats > 0 and expected > 0:
            lower, limit = ("yellow", RED) if warning == "red" else ("green", YELLOW)
            factor = limit * seats / expected
            yearly = factor ** (1 / horizon) - 1
            lower_zh = {"yellow": "黄色", "green": "绿色"}[lower]
            out.append(
                (
                    *key,
                    f"新市民子女流入每年减少约 {_percent(-yearly)}%（连续 {horizon} 年）可降为{lower_zh}",
                    f"inflow −{_percent(-yearly)} % a year for {horizon} year(s) would make it {lower}",
                )
            )
        if warning == "yellow":
            # Red at expected >= seats: the children a new estate handed over would add.
            more = max(math.ceil(seats - expected), 1)
            out.append(
                (
                    *key,
                    f"再增加 {more} 名适龄儿童（如新楼盘交付）将转为红色",
                    f"{more} more children (new housing handed over) would make it red",
                )
            )
        if school == "":
            green_move = math.floor(expected - YELLOW * seats) + 1
            others = [pair for pair in best.get((year, grade), []) if pair[0] != town]
            if others:
                other, room = others[0]
                name = towns.get(other, other)
                red_move = math.floor(expected - RED * seats) + 1
                if room >= green_move:
                    moved, result_zh, result_en = green_move, "绿色", "green"
                elif warning == "red" and room >= red_move:
                    moved, result_zh, result_en = red_move, "黄色", "yellow"
                else:
                    moved, result_zh, result_en = room, "", ""
                if result_zh:
                    out.append(
                        (
                            *key,
                            f"调整学区，将 {moved} 名儿童划入{name}（{other}，尚余 {room} 个学位）可转为{result_zh}",
                            f"a boundary change moving {moved} children to {name} ({other}, room for {room}) would make it {result_en}",
                        )
                    )
                else:
                    out.append(
                        (
                            *key,
                            f"学区调整不足以消除预警：余量最多的{name}（{other}）仅可接收 {room} 名",
                            f"a boundary change is not enough: {name} ({other}), with the most room, takes only {room}",
                        )
                    )
    return pl.DataFrame(out, schema=CHANGE_SCHEMA, orient="row")
