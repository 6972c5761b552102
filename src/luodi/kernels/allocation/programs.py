"""A program's decisions on frames: who is placed where, on the waiting list or refused.

Pure: applicants (already evaluated against the program's rules), the cycle's targets and
the published seed in; one row per application out. Nothing here reads a database or a
program document: the caller turns its program into ``ProgramRules``.

Applicants: ``application_id`` (integer), ``points``, ``priority_group``, ``eligible`` and,
for the refused, ``reason_zh``/``reason_en`` (which rules failed). By kind: ``choices``
(``;``-separated school or housing-project ids) and ``home_town`` to choose; schools add
``full_year``/``current`` (the two insurance rules); housing adds ``household_size``;
tiered benefits add ``entitlement`` and, when the program declares them, ``rate`` and
``term_months`` (a loan's terms, kept with the amount); every ``tie:<n>`` column the rules name.

Targets: ``target_id``, ``name``, ``town_code``, ``group_id``, ``layout``, ``capacity``,
``units`` (housing: the flat numbers, ``;``-separated) and, for schools, ``hot`` (学位紧张,
declared when the cycle opened: the full-year rule applies there; absent or null: not hot).
Schools may also give ``application_order`` (first come for 直接申请; absent: row order).

Towns' distances (schools, optional): ``town_code``, ``neighbour_code``, ``distance_km``, one
row per pair of neighbouring towns, either way round; the nearest town is the shortest way
along them (镇街统筹 beyond the child's own town).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

import polars as pl

from luodi.kernels.allocation.terms import Method, TieBreakColumn

QUOTA_TARGET = "quota"
"""The one list of a quota benefit."""

NO_SEAT = {
    "nowhere": (
        "本学段所有学校均无可入读的空余学位",
        "no free seat it may take at any school of the stage",
    ),
    "unreachable": (
        "本镇街及可统筹的镇街均无可入读的空余学位",
        "no free seat it may take in its town or any town it can be placed in",
    ),
    "no_town": ("无居住镇街记录，无法就近或统筹安排", "no town on record: cannot be placed"),
}
"""Why an eligible child who meets a school's rule is left without a seat after town
placement (the run reports each; ``no_seat``)."""


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
    SUBSIDY = "subsidy"
    """Housing: eligible, no flat, and the program's rent subsidy instead (租赁补贴)."""


class Placement(StrEnum):
    """How a placed application got its place."""

    CHOICE = "choice"
    """At one of its choices, by rank (积分制, 政策照顾, 引进人才; housing, benefits)."""
    DIRECT = "direct"
    """直接申请: at a choice with seats left after the ranked routes, first come."""
    TOWN = "town"
    """就近: no choice reached; a school of the child's own town with a free seat."""
    COORDINATED = "coordinated"
    """统筹: the own town full; a school of the nearest town with a free seat."""


@dataclass(frozen=True)
class Label:
    zh: str
    en: str


@dataclass(frozen=True)
class SchoolRules:
    full_year: Label
    """The rule at a hot school (学位紧张, the targets' ``hot``)."""
    current: Label
    """The rule at any other school (即保即读)."""
    town_placement: bool = True
    """After choices, an eligible unplaced child is placed in the own town (就近), then in
    the nearest town with a seat it may take (统筹)."""
    home_town_first: bool = False
    direct_groups: frozenset[int] = frozenset()
    """Priority groups of 直接申请: not ranked; after the ranked routes, first come (the
    ``application_order``) at the first of their choices with a seat left."""


@dataclass(frozen=True)
class RentSubsidy:
    """Housing: what an eligible household given no flat receives instead (租赁补贴)."""

    amount: float
    groups: frozenset[int] | None = None
    """The priority groups it is for; None: every eligible household given no flat."""


@dataclass(frozen=True)
class ProgramRules:
    kind: Kind
    method: Method = Method.RANKED_QUOTA
    tie_breaks: Sequence[TieBreakColumn] = ()
    school: SchoolRules | None = None
    household_layouts: Mapping[int, Sequence[str]] | None = field(default=None)
    """Household size → the layouts it may have, in preference order (the largest size
    listed covers every larger household)."""
    rent_subsidy: RentSubsidy | None = None


OUTCOME_COLUMNS = (
    "application_id",
    "outcome",
    "target_id",
    "unit",
    "choice_rank",
    "town_placement",
    "placement",
    "no_seat",
    "points",
    "priority_group",
    "rank",
    "lottery",
    "entitlement",
    "rate",
    "term_months",
    "reason_zh",
    "reason_en",
)


def decide(
    rules: ProgramRules,
    applicants: pl.DataFrame,
    targets: pl.DataFrame,
    seed: str,
    distances: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The outcome of every ranked application: application_id, outcome, target_id, unit,
    choice_rank (the applicant's own preference rank of the place), town_placement,
    placement, no_seat, points, priority_group, rank, lottery, entitlement, rate,
    term_months (a loan's), reason_zh, reason_en (a column absent from the program's kind
    is absent here). ``distances``: the towns' (schools; see the module)."""
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
            *[name for name in ("rate", "term_months") if name in eligible.columns],
            outcome=pl.when(pl.col("entitlement").is_not_null())
            .then(pl.lit(Outcome.PLACED.value))
            .otherwise(pl.lit(Outcome.UNPLACED.value)),
            placement=pl.when(pl.col("entitlement").is_not_null()).then(
                pl.lit(Placement.CHOICE.value)
            ),
            reason_zh=pl.when(pl.col("entitlement").is_null()).then(pl.lit("未达到最低一档")),
            reason_en=pl.when(pl.col("entitlement").is_null()).then(pl.lit("below every tier")),
        )
        return pl.concat([decided, ineligible], how="diagonal_relaxed")
    school = rules.school if rules.kind is Kind.SCHOOL_ADMISSION else None
    if school is not None:
        eligible = eligible.with_columns(
            direct=pl.col("priority_group").is_in(sorted(school.direct_groups))
        )
    chosen = choices(rules, eligible, targets)
    choice_lists = chosen.lists
    if school is not None and school.direct_groups:
        # 直接申请 is not ranked for a choice: the direct pass places it after the others.
        choice_lists = eligible.select(
            pl.when(pl.col("direct"))
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.lit(choice_lists))
        ).to_series()
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
        chosen.overrides,
        rules.tie_breaks,
    ).frame
    placed = (
        result.drop("choice_rank")
        .with_columns(application_id=pl.col("applicant_id").cast(pl.Int64))
        .join(
            eligible.select("application_id", "points", "priority_group", "home_town"),
            on="application_id",
        )
    )
    # The choice rank the applicant wrote (a housing project's, whichever of its layouts),
    # not the place in the list left once the choices the child may not take were dropped.
    placed = (
        placed.join(own_rank(chosen.cells), on=["application_id", "target_id"], how="left")
        .join(chosen.dropped, on="application_id", how="left")
        .with_columns(
            placement=pl.when(pl.col("target_id").is_not_null()).then(
                pl.lit(Placement.CHOICE.value)
            ),
            no_seat_zh=pl.lit(None, dtype=pl.String),
            no_seat_en=pl.lit(None, dtype=pl.String),
        )
    )
    if rules.kind is Kind.PUBLIC_HOUSING:
        lists = eligible.select("application_id").with_columns(choices=choice_lists)
        placed = fill_left_over(placed, lists, targets, own_rank(chosen.cells))
    if school is not None:
        placed = direct_placement(placed, chosen.cells, targets, eligible)
        if school.town_placement:
            placed = town_placement(placed, targets, eligible, distances)
    placed = placed.with_columns(
        town_placement=pl.col("placement")
        .is_in([Placement.TOWN.value, Placement.COORDINATED.value])
        .fill_null(False)
    )
    housing = rules.kind is Kind.PUBLIC_HOUSING
    unplaced_outcome = Outcome.WAITLISTED if housing else Outcome.UNPLACED
    full_zh, full_en = (
        ("房源已配完，进入轮候", "no flat left: on the waiting list")
        if housing
        else ("志愿均已满额（按排名未轮到）", "every choice filled by higher-ranked applicants")
    )
    unplaced = pl.col("target_id").is_null()
    reason_of = {
        Placement.DIRECT: (
            "直接申请：按报名先后录取到有空余学位的志愿学校",
            "direct application: first come at a chosen school with seats left",
        ),
        Placement.TOWN: (
            "志愿未录取，由镇街统筹安排到有空余学位的学校",
            "no choice reached: placed by the town at a school of its own with free seats",
        ),
        Placement.COORDINATED: (
            "本镇街学校已满，统筹安排到最近的有空余学位的镇街",
            "own town full: placed at the nearest town with free seats",
        ),
    }
    why_placed = {
        language: pl.col("placement").replace_strict(
            {placement.value: words[index] for placement, words in reason_of.items()},
            default=None,
            return_dtype=pl.String,
        )
        for index, language in enumerate(("zh", "en"))
    }
    full = {"zh": full_zh, "en": full_en}
    reason_zh, reason_en = (
        pl.when(unplaced)
        .then(
            pl.coalesce(
                pl.col(f"no_seat_{language}"),
                pl.when(pl.col("no_choice_left"))
                .then(pl.col(f"dropped_{language}"))
                .otherwise(pl.lit(full[language])),
            )
        )
        .otherwise(why_placed[language])
        for language in ("zh", "en")
    )
    decided = placed.select(
        "application_id",
        "points",
        "priority_group",
        "target_id",
        "choice_rank",
        "town_placement",
        "placement",
        pl.col("rank"),
        pl.col("lottery"),
        outcome=pl.when(unplaced)
        .then(pl.lit(unplaced_outcome.value))
        .otherwise(pl.lit(Outcome.PLACED.value)),
        no_seat=pl.col("no_seat_zh").is_not_null(),
        reason_zh=reason_zh,
        reason_en=reason_en,
    )
    if housing:
        decided = assign_flats(decided, targets)
        if rules.rent_subsidy is not None:
            decided = rent_subsidy(decided, rules.rent_subsidy)
    return pl.concat([decided, ineligible], how="diagonal_relaxed")


@dataclass(frozen=True)
class Choices:
    lists: pl.Series
    """Per eligible application (in order): the target ids it may take, in its order."""
    overrides: pl.DataFrame | None
    """Per (application, target): the priority group there (home town first)."""
    dropped: pl.DataFrame
    """Per application: ``no_choice_left`` and why its choices were dropped."""
    cells: pl.DataFrame
    """``application_id``, ``target``, ``position`` (0-based, as the applicant wrote it):
    every choice the application may take, in order."""


def own_rank(cells: pl.DataFrame) -> pl.DataFrame:
    """``application_id``, ``target_id``, ``choice_rank``: the applicant's own rank (1 =
    first choice) of each target it may take."""
    return cells.unique(["application_id", "target"], keep="first", maintain_order=True).select(
        "application_id",
        target_id=pl.col("target"),
        choice_rank=(pl.col("position") + 1).cast(pl.Int64),
    )


def hot_column(targets: pl.DataFrame) -> pl.Expr:
    """The targets' ``hot`` (学位紧张), false where absent."""
    if "hot" in targets.columns:
        return pl.col("hot").cast(pl.Boolean).fill_null(False)
    return pl.lit(False)


def choices(rules: ProgramRules, eligible: pl.DataFrame, targets: pl.DataFrame) -> Choices:
    """Each application's choice list of target ids (schools the child may enter there;
    a housing project's flats of the layouts the household may have), per-target groups,
    why choices were dropped and the choices kept with the applicant's own positions."""
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
        cells = listed.select(
            "application_id", target=pl.lit(QUOTA_TARGET), position=pl.lit(0, dtype=pl.Int64)
        )
        return Choices(quota, None, nothing, cells)
    cells = listed.with_columns(
        position=pl.int_ranges(pl.col("chosen").list.len(), dtype=pl.Int64)
    ).explode("chosen", "position")
    cells = cells.filter(pl.col("chosen").is_not_null())
    if school is not None:
        # Hot schools were declared when the cycle opened (the targets' ``hot``): the
        # applications of this cycle do not make a school hot.
        strict = targets.select("target_id", strict=hot_column(targets))
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
    return Choices(
        ordered["target"],
        overrides,
        dropped,
        allowed.select("application_id", "target", "position"),
    )


def seats_left(placed: pl.DataFrame, targets: pl.DataFrame) -> dict[str, int]:
    """Target id → seats not yet taken in ``placed``."""
    taken = placed.filter(pl.col("target_id").is_not_null()).group_by("target_id").len()
    free = targets.join(taken, on="target_id", how="left").select(
        "target_id", free=pl.col("capacity") - pl.col("len").fill_null(0)
    )
    return dict(free.iter_rows())


def _assigned(placed: pl.DataFrame, rows: list[tuple[int, str, int | None, str]]) -> pl.DataFrame:
    """``placed`` with (application_id, target_id, choice_rank, placement) filled in for
    applications the ranked routes left unplaced."""
    assignment = pl.DataFrame(
        rows,
        schema={
            "application_id": pl.Int64,
            "new_target": pl.String,
            "new_rank": pl.Int64,
            "new_placement": pl.String,
        },
        orient="row",
    )
    return (
        placed.join(assignment, on="application_id", how="left")
        .with_columns(
            target_id=pl.coalesce("target_id", "new_target"),
            choice_rank=pl.coalesce("choice_rank", "new_rank"),
            placement=pl.coalesce("placement", "new_placement"),
        )
        .drop("new_target", "new_rank", "new_placement")
    )


def direct_placement(
    placed: pl.DataFrame, cells: pl.DataFrame, targets: pl.DataFrame, eligible: pl.DataFrame
) -> pl.DataFrame:
    """直接申请: after the ranked routes, first come (``application_order``, else the order
    of the rows), each direct application takes the first of its choices (those the child
    may enter) with a seat left."""
    direct = eligible.with_row_index("row").filter(pl.col("direct"))
    if direct.height == 0:
        return placed
    order = ["application_order", "row"] if "application_order" in direct.columns else ["row"]
    first_come = direct.sort(order)["application_id"].to_list()
    free = seats_left(placed, targets)
    wanted = cells.join(direct.select("application_id"), on="application_id", how="semi")
    lists: dict[int, list[tuple[str, int]]] = {}
    for application_id, target, position in wanted.sort("application_id", "position").iter_rows():
        lists.setdefault(application_id, []).append((target, position))
    rows: list[tuple[int, str, int | None, str]] = []
    for application_id in first_come:
        for target, position in lists.get(application_id, []):
            if free.get(target, 0) > 0:
                free[target] -= 1
                rows.append((application_id, target, position + 1, Placement.DIRECT.value))
                break
    return _assigned(placed, rows)


def town_order(distances: pl.DataFrame | None) -> dict[str, list[str]]:
    """Town → the other towns it reaches, nearest first (the shortest way along the
    neighbours' distances; ties by code)."""
    if distances is None or distances.height == 0:
        return {}
    import numpy as np

    edges = distances.select(
        pl.col("town_code").cast(pl.String),
        pl.col("neighbour_code").cast(pl.String),
        pl.col("distance_km").cast(pl.Float64),
    )
    towns = sorted(set(edges["town_code"]) | set(edges["neighbour_code"]))
    index = {town: number for number, town in enumerate(towns)}
    far = np.full((len(towns), len(towns)), np.inf)
    np.fill_diagonal(far, 0.0)
    for town, neighbour, km in edges.iter_rows():
        a, b = index[town], index[neighbour]
        far[a, b] = far[b, a] = min(far[a, b], km)
    for via in range(len(towns)):  # Floyd–Warshall: a city has a few dozen towns
        far = np.minimum(far, far[:, via, None] + far[None, via, :])
    return {
        town: [
            towns[other]
            for other in sorted(range(len(towns)), key=lambda o: (far[a, o], towns[o]))
            if other != a and np.isfinite(far[a, other])
        ]
        for town, a in index.items()
    }


def town_placement(
    placed: pl.DataFrame,
    targets: pl.DataFrame,
    eligible: pl.DataFrame,
    distances: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """确保符合条件的新居民子女100%入学: children still unplaced who meet a school's rule
    (at a hot school the full-year rule, elsewhere the current one) go, in rank order, to
    the school of their own town with the most seats they may take (就近); those left, in
    rank order again, to the nearest town with such a seat (统筹). Who is left has
    ``no_seat_zh``/``no_seat_en``: why."""
    free = seats_left(placed, targets)
    hot = dict(targets.select("target_id", hot_column(targets).alias("hot")).iter_rows())
    in_town: dict[str | None, list[str]] = {}
    for target, town in targets.select("target_id", "town_code").iter_rows():
        in_town.setdefault(town, []).append(target)
    people = eligible.select(
        "application_id",
        full_year=pl.col("full_year").fill_null(False),
        current=pl.col("current").fill_null(False),
    )
    waiting = (
        placed.filter(pl.col("target_id").is_null())
        .join(people, on="application_id")
        .filter(pl.col("full_year") | pl.col("current"))
        .sort("rank")
    )
    children = waiting.select("application_id", "home_town", "full_year", "current").rows()

    # Free seats by (town, hot): a town none of whose schools has a seat the child may take
    # is passed over without looking at its schools (when seats run out, most are).
    open_seats: dict[tuple[str | None, bool], int] = {}
    for target, town in targets.select("target_id", "town_code").iter_rows():
        key = (town, bool(hot[target]))
        open_seats[key] = open_seats.get(key, 0) + max(free[target], 0)

    def may_take(target: str, full_year: bool, current: bool) -> bool:
        return free[target] > 0 and (full_year if hot[target] else current)

    def best(town: str | None, full_year: bool, current: bool) -> str | None:
        if not (
            (full_year and open_seats.get((town, True), 0))
            or (current and open_seats.get((town, False), 0))
        ):
            return None
        open_here = [t for t in in_town.get(town, []) if may_take(t, full_year, current)]
        # The school with the most free seats (then the smaller id): the town fills its
        # schools evenly.
        return min(open_here, key=lambda t: (-free[t], t)) if open_here else None

    def take(target: str) -> None:
        free[target] -= 1
        open_seats[(town_of[target], bool(hot[target]))] -= 1
        in_stage[bool(hot[target])] -= 1

    in_stage = {True: 0, False: 0}
    """Free seats in the whole stage, hot and not: once none is left of the kinds a child
    may take, the towns are not searched (in a shortage, most children left)."""
    for (_, is_hot), count in open_seats.items():
        in_stage[is_hot] += count

    town_of = dict(targets.select("target_id", "town_code").iter_rows())
    rows: list[tuple[int, str, int | None, str]] = []
    left: list[tuple[int, str | None, bool, bool]] = []
    for application_id, town, full_year, current in children:
        target = best(town, full_year, current) if town is not None else None
        if target is None:
            left.append((application_id, town, full_year, current))
            continue
        take(target)
        rows.append((application_id, target, None, Placement.TOWN.value))
    nearest = town_order(distances)
    still: list[tuple[int, bool, bool, bool]] = []
    for application_id, town, full_year, current in left:
        target = None
        seats_somewhere = (full_year and in_stage[True] > 0) or (current and in_stage[False] > 0)
        for other in nearest.get(town, []) if town is not None and seats_somewhere else []:
            target = best(other, full_year, current)
            if target is not None:
                break
        if target is None:
            still.append((application_id, town is None, full_year, current))
            continue
        take(target)
        rows.append((application_id, target, None, Placement.COORDINATED.value))
    # Seats left anywhere in the stage (nothing is placed after this).
    anywhere = [
        (
            application_id,
            (full_year and in_stage[True] > 0) or (current and in_stage[False] > 0),
            no_town,
        )
        for application_id, no_town, full_year, current in still
    ]
    reasons = pl.DataFrame(
        [
            (
                application_id,
                *NO_SEAT["no_town" if no_town else "unreachable" if seats else "nowhere"],
            )
            for application_id, seats, no_town in anywhere
        ],
        schema={"application_id": pl.Int64, "why_zh": pl.String, "why_en": pl.String},
        orient="row",
    )
    return (
        _assigned(placed, rows)
        .join(reasons, on="application_id", how="left")
        .with_columns(
            no_seat_zh=pl.coalesce("no_seat_zh", "why_zh"),
            no_seat_en=pl.coalesce("no_seat_en", "why_en"),
        )
        .drop("why_zh", "why_en")
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


def fill_left_over(
    placed: pl.DataFrame, lists: pl.DataFrame, targets: pl.DataFrame, ranks: pl.DataFrame
) -> pl.DataFrame:
    """Give a left-over flat to a waiting household, moving households inside their own
    project to another layout they fit, when that is what frees a flat it fits.

    Serial choice alone can leave a household waiting for a one-room flat that a household
    of two took first (its first layout) while the two-room flat it also fits stays empty.
    A waiting household, in rank order, is housed at the first target of its list (its own
    preference) from which a chain of such moves ends at an empty flat; each move is made
    by the lowest-ranked holder that fits the next layout, and nobody leaves their project
    or loses their flat. Repeated until nobody more can be housed, so no waiting household
    fits a flat left empty in a project it chose, nor one a move inside a project would
    free."""
    capacity = dict(targets.select("target_id", "capacity").iter_rows())
    project = dict(targets.select("target_id", pl.coalesce("group_id", "target_id")).iter_rows())
    taken: dict[str, int] = dict(
        placed.filter(pl.col("target_id").is_not_null()).group_by("target_id").len().iter_rows()
    )
    free = {target: capacity[target] - taken.get(target, 0) for target in capacity}
    if not any(left > 0 for left in free.values()):
        return placed  # every flat let: nothing to move (the common case, no Python loop)
    fits: dict[int, list[str]] = dict(lists.iter_rows())
    holder: dict[int, str | None] = dict(placed.select("application_id", "target_id").iter_rows())
    rank: dict[int, int] = dict(placed.select("application_id", "rank").iter_rows())
    # moves[T][U]: how many holders of T fit U in the same project (a move T → U exists);
    # movers[T, U]: those holders, the lowest-ranked on top (a heap; one that has left T
    # since is dropped when it comes up).
    moves: dict[str, dict[str, int]] = {target: {} for target in capacity}
    movers: dict[tuple[str, str], list[tuple[int, int]]] = {}

    def hold(application_id: int, target: str, sign: int) -> None:
        for other in set(fits.get(application_id, [])):
            if other != target and project[other] == project[target]:
                moves[target][other] = moves[target].get(other, 0) + sign
                if sign > 0:
                    heapq.heappush(
                        movers.setdefault((target, other), []),
                        (-rank[application_id], application_id),
                    )

    def mover(left_from: str, into: str) -> int:
        heap = movers[left_from, into]
        while holder[heap[0][1]] != left_from:
            heapq.heappop(heap)
        return heapq.heappop(heap)[1]

    for application_id, target in holder.items():
        if target is not None:
            hold(application_id, target, 1)

    def reaching() -> set[str]:
        """The targets from which a chain of moves ends at an empty flat."""
        into: dict[str, list[str]] = {}
        for source, outs in moves.items():
            for out, count in outs.items():
                if count > 0:
                    into.setdefault(out, []).append(source)
        found = {target for target, left in free.items() if left > 0}
        queue = list(found)
        while queue:
            for source in into.get(queue.pop(), []):
                if source not in found:
                    found.add(source)
                    queue.append(source)
        return found

    def chain(start: str) -> list[str]:
        """The targets from ``start`` to an empty flat, each reached by a move."""
        came: dict[str, str | None] = {start: None}
        queue = [start]
        while queue:
            target = queue.pop(0)
            if free[target] > 0:
                path = [target]
                while (step := came[path[-1]]) is not None:
                    path.append(step)
                return path[::-1]
            for other, count in sorted(moves[target].items()):
                if count > 0 and other not in came:
                    came[other] = target
                    queue.append(other)
        raise AssertionError("a target that reaches an empty flat has a chain to it")

    waiting = sorted(
        (i for i, t in holder.items() if t is None and fits.get(i)), key=rank.__getitem__
    )
    reach = reaching()
    housed = True
    while housed and waiting and reach:
        housed = False
        for application_id in list(waiting):
            start = next((target for target in fits[application_id] if target in reach), None)
            if start is None:
                continue
            path = chain(start)
            # From the empty end back: each step's lowest-ranked holder that fits the next
            # layout moves on, freeing a flat for the step before it.
            for left_from, into in reversed(list(pairwise(path))):
                moving = mover(left_from, into)
                hold(moving, left_from, -1)
                holder[moving] = into
                hold(moving, into, 1)
                free[left_from] += 1
                free[into] -= 1
            holder[application_id] = start
            hold(application_id, start, 1)
            free[start] -= 1
            waiting.remove(application_id)
            housed = True
            reach = reaching()
    moved = pl.DataFrame(
        {"application_id": list(holder), "new_target": list(holder.values())},
        schema={"application_id": pl.Int64, "new_target": pl.String},
    )
    # A moved or newly housed household's 志愿 is its own rank of the project (``ranks``:
    # ``own_rank``), whichever layout it got there.
    return (
        placed.join(moved, on="application_id", how="left")
        .with_columns(target_id=pl.col("new_target"))
        .drop("new_target", "choice_rank")
        .join(ranks, on=["application_id", "target_id"], how="left")
        .with_columns(
            placement=pl.when(pl.col("target_id").is_not_null()).then(
                pl.lit(Placement.CHOICE.value)
            )
        )
    )


def rent_subsidy(decided: pl.DataFrame, subsidy: RentSubsidy) -> pl.DataFrame:
    """An eligible household given no flat, of a group the subsidy is for, receives the rent
    subsidy instead of waiting (乐清: 公交司机、环卫工人); the reason it has no flat stays."""
    waiting = pl.col("outcome") == Outcome.WAITLISTED.value
    entitled = (
        waiting
        if subsidy.groups is None
        else waiting & pl.col("priority_group").is_in(sorted(subsidy.groups))
    )
    return decided.with_columns(
        outcome=pl.when(entitled).then(pl.lit(Outcome.SUBSIDY.value)).otherwise("outcome"),
        entitlement=pl.when(entitled).then(pl.lit(float(subsidy.amount))),
    )
