"""A program's decisions on frames: who is placed where, on the waiting list or refused.

Pure: applicants (already evaluated against the program's rules), the cycle's targets and
the published seed in; one row per application out. Nothing here reads a database or a
program document: the caller turns its program into ``ProgramRules``.

Applicants: ``application_id`` (integer), ``points``, ``priority_group``, ``eligible`` and,
for the refused, ``reason_zh``/``reason_en`` (which rules failed). By kind: ``choices``
(``;``-separated school or housing-project ids) and ``home_town`` to choose; schools add
``full_year``/``current`` (the two insurance rules); housing adds ``household_size``;
tiered benefits add ``entitlement``; every ``tie:<n>`` column the rules name.

Targets: ``target_id``, ``name``, ``town_code``, ``group_id``, ``layout``, ``capacity``,
``units`` (housing: the flat numbers, ``;``-separated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

from luodi.kernels.allocation.terms import Method, TieBreakColumn

QUOTA_TARGET = "quota"
"""The one list of a quota benefit."""


class Kind(StrEnum):
    """How a program chooses (the values of ``programs.spec.ProgramKind``)."""

    SCHOOL_ADMISSION = "school_admission"
    PUBLIC_HOUSING = "public_housing"
    QUOTA_BENEFIT = "quota_benefit"
    TIERED_BENEFIT = "tiered_benefit"
    ENTITLEMENT = "entitlement"
    """Eligibility only: everyone eligible is granted (核准), nobody ranked or placed."""


class Outcome(StrEnum):
    PLACED = "placed"
    WAITLISTED = "waitlisted"
    UNPLACED = "unplaced"
    INELIGIBLE = "ineligible"


@dataclass(frozen=True)
class Label:
    zh: str
    en: str


@dataclass(frozen=True)
class SchoolRules:
    full_year: Label
    """The rule at an over-subscribed school (first-choice demand above its seats)."""
    current: Label
    """The rule at a school with spare seats (即保即读)."""
    town_placement: bool = True
    home_town_first: bool = False


@dataclass(frozen=True)
class ProgramRules:
    kind: Kind
    method: Method = Method.RANKED_QUOTA
    tie_breaks: Sequence[TieBreakColumn] = ()
    school: SchoolRules | None = None
    household_layouts: Mapping[int, Sequence[str]] | None = field(default=None)
    """Household size → the layouts it may have, in preference order (the largest size
    listed covers every larger household)."""


OUTCOME_COLUMNS = (
    "application_id",
    "outcome",
    "target_id",
    "unit",
    "choice_rank",
    "town_placement",
    "points",
    "priority_group",
    "rank",
    "lottery",
    "entitlement",
    "reason_zh",
    "reason_en",
)


def decide(
    rules: ProgramRules, applicants: pl.DataFrame, targets: pl.DataFrame, seed: str
) -> pl.DataFrame:
    """The outcome of every ranked application: application_id, outcome, target_id, unit,
    choice_rank, town_placement, points, priority_group, rank, lottery, entitlement,
    reason_zh, reason_en (a column absent from the program's kind is absent here)."""
    eligible = applicants.filter(pl.col("eligible"))
    ineligible = applicants.filter(~pl.col("eligible")).select(
        "application_id",
        "points",
        "priority_group",
        pl.col("reason_zh").cast(pl.String),
        pl.col("reason_en").cast(pl.String),
        outcome=pl.lit(Outcome.INELIGIBLE.value),
    )
    if rules.kind is Kind.ENTITLEMENT:
        granted = eligible.select(
            "application_id", "points", "priority_group", outcome=pl.lit(Outcome.PLACED.value)
        )
        return pl.concat([granted, ineligible], how="diagonal_relaxed")
    if rules.kind is Kind.TIERED_BENEFIT:
        decided = eligible.select(
            "application_id",
            "points",
            "priority_group",
            "entitlement",
            outcome=pl.when(pl.col("entitlement").is_not_null())
            .then(pl.lit(Outcome.PLACED.value))
            .otherwise(pl.lit(Outcome.UNPLACED.value)),
            reason_zh=pl.when(pl.col("entitlement").is_null()).then(pl.lit("未达到最低一档")),
            reason_en=pl.when(pl.col("entitlement").is_null()).then(pl.lit("below every tier")),
        )
        return pl.concat([decided, ineligible], how="diagonal_relaxed")
    choice_lists, overrides, dropped = choices(rules, eligible, targets)
    ranked_input = eligible.select(
        pl.col("application_id").cast(pl.String).alias("applicant_id"),
        "points",
        "priority_group",
        *[pl.col(column) for column in eligible.columns if column.startswith("tie:")],
    ).with_columns(choices=choice_lists)
    # Here, not at the top: naming an outcome or a kind (the models, taking applications)
    # needs no arrays; the mechanisms bring NumPy.
    from luodi.kernels.allocation.frames import allocate

    result = allocate(
        rules.method,
        ranked_input,
        targets.select("target_id", "capacity"),
        seed,
        overrides,
        rules.tie_breaks,
    ).frame
    placed = result.with_columns(application_id=pl.col("applicant_id").cast(pl.Int64)).join(
        eligible.select("application_id", "points", "priority_group", "home_town"),
        on="application_id",
    )
    placed = placed.join(dropped, on="application_id", how="left")
    if rules.kind is Kind.SCHOOL_ADMISSION and rules.school and rules.school.town_placement:
        placed = town_placement(placed, targets, eligible)
    else:
        placed = placed.with_columns(town_placement=pl.lit(False))
    housing = rules.kind is Kind.PUBLIC_HOUSING
    unplaced_outcome = Outcome.WAITLISTED if housing else Outcome.UNPLACED
    full_zh, full_en = (
        ("房源已配完，进入轮候", "no flat left: on the waiting list")
        if housing
        else ("志愿均已满额（按排名未轮到）", "every choice filled by higher-ranked applicants")
    )
    decided = placed.select(
        "application_id",
        "points",
        "priority_group",
        "target_id",
        "choice_rank",
        "town_placement",
        pl.col("rank"),
        pl.col("lottery"),
        outcome=pl.when(pl.col("target_id").is_not_null())
        .then(pl.lit(Outcome.PLACED.value))
        .otherwise(pl.lit(unplaced_outcome.value)),
        reason_zh=pl.when(pl.col("target_id").is_null())
        .then(
            pl.when(pl.col("no_choice_left")).then(pl.col("dropped_zh")).otherwise(pl.lit(full_zh))
        )
        .when(pl.col("town_placement"))
        .then(pl.lit("志愿未录取，由镇街统筹安排到有空余学位的学校")),
        reason_en=pl.when(pl.col("target_id").is_null())
        .then(
            pl.when(pl.col("no_choice_left")).then(pl.col("dropped_en")).otherwise(pl.lit(full_en))
        )
        .when(pl.col("town_placement"))
        .then(pl.lit("no choice reached: placed by the town at a school with free seats")),
    )
    if housing:
        decided = assign_flats(decided, targets)
    return pl.concat([decided, ineligible], how="diagonal_relaxed")


def choices(
    rules: ProgramRules, eligible: pl.DataFrame, targets: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame | None, pl.DataFrame]:
    """Each application's choice list of target ids (schools the child may enter there;
    a housing project's flats of the layouts the household may have), per-target groups,
    and, per application, why choices were dropped."""
    school = rules.school if rules.kind is Kind.SCHOOL_ADMISSION else None
    listed = eligible.select(
        "application_id",
        "home_town",
        "household_size",
        *(["full_year", "current"] if school else []),
        chosen=pl.col("choices").str.split(";").list.filter(pl.element() != ""),
    )
    if rules.kind is Kind.QUOTA_BENEFIT:
        quota = pl.Series([[QUOTA_TARGET]] * eligible.height, dtype=pl.List(pl.String))
        nothing = listed.select(
            "application_id",
            no_choice_left=pl.lit(False),
            dropped_zh=pl.lit(None, dtype=pl.String),
            dropped_en=pl.lit(None, dtype=pl.String),
        )
        return quota, None, nothing
    cells = listed.with_columns(position=pl.int_ranges(pl.col("chosen").list.len())).explode(
        "chosen", "position"
    )
    cells = cells.filter(pl.col("chosen").is_not_null())
    if school is not None:
        first_demand = cells.filter(pl.col("position") == 0).group_by("chosen").len()
        strict = targets.join(
            first_demand, left_on="target_id", right_on="chosen", how="left"
        ).select("target_id", strict=pl.col("len").fill_null(0) > pl.col("capacity"))
        cells = cells.join(strict, left_on="chosen", right_on="target_id", how="left").with_columns(
            allowed=pl.when(pl.col("strict"))
            .then(pl.col("full_year").fill_null(False))
            .otherwise(pl.col("current").fill_null(False))
        )
        full, current = school.full_year, school.current
        rule_zh = (
            pl.when(pl.col("current").fill_null(False))
            .then(pl.lit(f"所填学校学位紧张，要求{full.zh}"))
            .otherwise(pl.lit(f"不符合：{current.zh}"))
        )
        rule_en = (
            pl.when(pl.col("current").fill_null(False))
            .then(pl.lit(f"the chosen schools are over-subscribed and require: {full.en}"))
            .otherwise(pl.lit(f"not met: {current.en}"))
        )
        cells = cells.with_columns(target=pl.col("chosen"))
    else:
        if not rules.household_layouts:
            raise ValueError("public housing needs household_layouts")
        layouts_of = rules.household_layouts
        sizes = sorted(layouts_of)
        layout_rows = [
            (size, layout, order)
            for size in range(1, max(sizes) + 1)
            for order, layout in enumerate(
                layouts_of[min((s for s in sizes if s >= size), default=max(sizes))]
            )
        ]
        layouts = pl.DataFrame(
            layout_rows,
            schema={"size": pl.Int64, "layout": pl.String, "order": pl.Int64},
            orient="row",
        )
        cells = (
            cells.with_columns(size=pl.col("household_size").clip(1, max(sizes)))
            .join(layouts, on="size", how="left")
            .with_columns(target=pl.col("chosen") + "|" + pl.col("layout"))
            .join(targets.select("target_id"), left_on="target", right_on="target_id", how="semi")
            .sort("application_id", "position", "order")
            .with_columns(allowed=pl.lit(True))
        )
        rule_zh = pl.lit("所选项目没有适合家庭人数的房型")
        rule_en = pl.lit("no flat of a fitting size in the chosen projects")
    allowed = cells.filter(pl.col("allowed"))
    lists = (
        allowed.group_by("application_id", maintain_order=True)
        .agg(pl.col("target"))
        .join(eligible.select("application_id"), on="application_id", how="right")
        .select("application_id", pl.col("target").fill_null([]))
    )
    ordered = eligible.select("application_id").join(lists, on="application_id", how="left")
    overrides = None
    if school is not None and school.home_town_first:
        town_of = targets.select("target_id", "town_code")
        overrides = (
            allowed.join(town_of, left_on="target", right_on="target_id")
            .join(eligible.select("application_id", "priority_group"), on="application_id")
            .select(
                applicant_id=pl.col("application_id").cast(pl.String),
                target_id=pl.col("target"),
                # A child with no town on record is of no school's town (never a null group).
                priority_group=pl.col("priority_group") * 2
                + (pl.col("town_code") != pl.col("home_town")).fill_null(True).cast(pl.Int64),
            )
        )
    dropped = ordered.join(
        eligible.select("application_id", *(["current"] if school else [])),
        on="application_id",
    ).select(
        "application_id",
        no_choice_left=pl.col("target").list.len() == 0,
        dropped_zh=rule_zh,
        dropped_en=rule_en,
    )
    return ordered["target"], overrides, dropped


def town_placement(
    placed: pl.DataFrame, targets: pl.DataFrame, eligible: pl.DataFrame
) -> pl.DataFrame:
    """Unplaced children who meet the current-insurance rule go, in rank order, to the
    school of their own town with the most free seats (镇街统筹)."""
    taken = placed.group_by("target_id").len()
    free = (
        targets.join(taken, on="target_id", how="left")
        .with_columns(free=pl.col("capacity") - pl.col("len").fill_null(0))
        .filter(pl.col("free") > 0)
    )
    seats: dict[str, tuple[str | None, int]] = {
        row["target_id"]: (row["town_code"], row["free"]) for row in free.iter_rows(named=True)
    }
    current = set(eligible.filter(pl.col("current").fill_null(False))["application_id"].to_list())
    chosen: dict[int, str] = {}
    waiting = placed.filter(pl.col("target_id").is_null()).sort("rank")
    for application_id, town in waiting.select("application_id", "home_town").iter_rows():
        if application_id not in current or town is None:
            continue
        here = [
            (left, target) for target, (code, left) in seats.items() if code == town and left > 0
        ]
        if not here:
            continue
        _, target = max(here)
        code, left = seats[target]
        seats[target] = (code, left - 1)
        chosen[application_id] = target
    assignment = pl.DataFrame(
        {"application_id": list(chosen), "town_target": list(chosen.values())},
        schema={"application_id": pl.Int64, "town_target": pl.String},
    )
    return (
        placed.join(assignment, on="application_id", how="left")
        .with_columns(
            town_placement=pl.col("town_target").is_not_null(),
            target_id=pl.coalesce("target_id", "town_target"),
        )
        .drop("town_target")
    )


def assign_flats(decided: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Within a project and layout, flats go in number order to applicants in rank order."""
    units = targets.select("target_id", unit=pl.col("units").str.split(";")).explode("unit")
    units = units.with_columns(slot=pl.int_range(pl.len()).over("target_id"))
    placed = decided.filter(pl.col("target_id").is_not_null()).with_columns(
        slot=pl.col("rank").rank("ordinal").over("target_id").cast(pl.Int64) - 1
    )
    placed = placed.join(
        units.with_columns(pl.col("slot").cast(pl.Int64)), on=["target_id", "slot"], how="left"
    ).drop("slot")
    return pl.concat([placed, decided.filter(pl.col("target_id").is_null())], how="diagonal")
