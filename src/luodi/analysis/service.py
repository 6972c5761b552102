"""积分制总量分析 of a scoring run: distributions, thresholds, movement, layers.

Reads the run's stored frame (every part, only ``resident_id``, ``total`` and ``points``),
the registry's attributes of everyone in bulk, and the counts of the policy's earlier runs
grouped in SQL; the arithmetic is ``kernels.analysis.points`` (docs/analytics.md).
Open to the roles of the console's "analysis" area (the service centre, reviewers,
auditors: aggregates of the whole city); a run they do not reach is 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import polars as pl
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.analysis import repository
from luodi.audit import service as audit
from luodi.auth.actor import Actor
from luodi.auth.permissions import CONSOLE_AREAS, may_open, require
from luodi.errors import FieldProblem, Invalid, NotFound
from luodi.kernels.analysis import points as kernel
from luodi.kernels.analysis.points import AdmissionClass
from luodi.kernels.policy.document import Policy
from luodi.policy.service import compiled_from_text
from luodi.scale.layout import MANIFEST
from luodi.scoring import frames
from luodi.scoring import repository as scoring_repository
from luodi.scoring.schemas import RunRead, unstored_run

DEFAULT_THRESHOLDS: Final = (60.0, 90.0, 120.0, 150.0)
"""60 / 90 / 120: the tiers of 新市民贷 (programs/zj-cixi/loan.yaml) and the health check's
cases; 60 is also 公租房's points line (public-rental.yaml). 150: ASSUMPTION, one more band
for the upper tail (no program of the city names it)."""
MAX_THRESHOLDS: Final = 10
HIGHEST_THRESHOLD: Final = 10_000.0
"""No points table reaches this: a line above it is a typing slip."""
DIMENSIONS: Final = {
    "town": ("镇街", "town"),
    "origin": ("来源省份", "origin province"),
    "age_band": ("年龄段", "age band"),
    "sector": ("就业类型", "employment basis"),
    "permit_years": ("居住证年限", "permit length (years)"),
}
"""The groupings of the distributions: column → (Chinese, English). "sector" is the basis
of the employment in force (单位就业 / 个体经营 / 无就业登记): ASSUMPTION, the registry holds
no industry code (docs/analytics.md)."""
GROUP_LABELS: Final = {
    "sector": {
        "employee": "单位就业 employee",
        "self_employed": "个体经营 self-employed",
        "none": "无就业登记（含灵活就业）no registered job",
    },
    "permit_years": {
        "<1": "不满1年 <1",
        "1–2": "1–2年",
        "3–4": "3–4年",
        "5–9": "5–9年",
        "10+": "10年以上 10+",
    },
}
UNKNOWN_LABEL: Final = "未知 unknown"

ADMISSION_CLASSES: Final = (
    AdmissionClass(
        "settlement",
        "落户条件",
        "settlement conditions",
        120.0,
        "ASSUMPTION: no source of the city gives a points line for 落户; configurable",
    ),
    AdmissionClass(
        "school",
        "积分入学",
        "school places",
        90.0,
        "ASSUMPTION: programs/zj-cixi/school-entry.yaml ranks by points without a line; "
        "configurable",
    ),
    AdmissionClass(
        "housing",
        "公租房",
        "public rental housing",
        60.0,
        "programs/zj-cixi/public-rental.yaml, rule points_line (积分达到 60 分)",
    ),
)
"""分类: the uses a city admits residents to by points, with the threshold of each."""
DEFAULT_BATCHES: Final = 5
"""Yearly batches counted (分批): the next five years, as the forecast's horizon."""
HISTOGRAM_WIDTH: Final = 10.0
"""Points per bar of the distribution: the thresholds (multiples of 30) fall on bar edges."""


@dataclass(frozen=True)
class PointsAnalysis:
    run: RunRead
    thresholds: tuple[float, ...]
    residents: int
    summary: dict[str, float]
    """mean, p10, median, p90, highest of the totals."""
    histogram: pl.DataFrame
    """``start, residents``: bars of the totals, no gaps."""
    by_dimension: dict[str, pl.DataFrame]
    """DIMENSIONS key → ``group, label, residents, mean, median, p90, <one column per
    threshold: residents at or above it, named ``kernel.threshold_column``: at_least_60>``."""
    indicators: pl.DataFrame
    """Per indicator of the policy: ``indicator, label, residents_with_points, mean,
    total_points, share_of_points`` (and by town in ``indicators_by_town``)."""
    indicators_by_town: pl.DataFrame
    """``town, town_name, indicator, label, residents_with_points, mean, total_points,
    share_of_points``."""
    thresholds_over_runs: pl.DataFrame
    """``run_id, as_of, threshold, residents``: now and in the earlier runs of the policy."""
    movement: pl.DataFrame
    """Against the previous run of the policy: ``threshold, indicator, label, crossed_up,
    crossed_down, residents`` (who crossed which threshold, by the indicator whose points
    changed most; ``residents`` = up + down). Empty when there is no previous run."""
    layers: pl.DataFrame
    """分层分类分批: ``class, class_label, threshold, layer, residents, batch, admitted`` — a
    layer per threshold band, a class per use (settlement conditions, school, housing), the
    residents a city could admit per yearly batch (``batch`` null: later, or no quota)."""
    movement_summary: pl.DataFrame = field(default_factory=pl.DataFrame)
    """``threshold, residents_in_both, before, after, crossed_up, crossed_down``."""
    previous_run_id: int | None = None
    classes: pl.DataFrame = field(default_factory=pl.DataFrame)
    """``class, label_zh, label_en, threshold, source`` (ASSUMPTION where no source)."""
    quota: int | None = None
    batches: pl.DataFrame = field(default_factory=pl.DataFrame)
    """``class, class_label, batch, year, admitted, cumulative, lowest_total,
    highest_total``."""
    batch_one: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Who the first batch takes (staff only, masked): ``rank, name, id_number, total,
    town, town_name, classes``; empty without a quota."""
    dataset: str | None = None
    """The scored dataset analysed (``luodi analysis points --input``), when not a stored
    run: ``run`` is then an unstored run (id 0) of the dataset's policy and date."""
    notes: tuple[tuple[str, str], ...] = ()
    """(zh, en) lines the exports print under the title: what this analysis could not do."""

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table by name, in the order the exports show them."""
        summary = pl.DataFrame(
            {
                "measure": ["residents", *self.summary],
                "value": [float(self.residents), *self.summary.values()],
            }
        )
        named = {
            "summary": summary,
            "histogram": self.histogram,
            **{f"by_{name}": frame for name, frame in self.by_dimension.items()},
            "indicators": self.indicators,
            "indicators_by_town": self.indicators_by_town,
            "thresholds_over_runs": self.thresholds_over_runs,
            "movement_summary": self.movement_summary,
            "movement": self.movement,
            "classes": self.classes,
            "layers": self.layers,
            "batches": self.batches,
        }
        if self.batch_one.height:
            named["batch_one"] = self.batch_one
        return named

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run.model_dump(mode="json"),
            "thresholds": list(self.thresholds),
            "residents": self.residents,
            "summary": self.summary,
            "previous_run_id": self.previous_run_id,
            "quota": self.quota,
            "tables": {
                name: [_plain(row) for row in frame.iter_rows(named=True)]
                for name, frame in self.tables().items()
            },
        }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in row.items()
    }


def may_see_people(actor: Actor) -> bool:
    """Who may see the (masked) residents of a batch: the roles that open the residents'
    register (a department's reviewer reads the aggregates only)."""
    return may_open(actor, "residents")


def threshold_numbers(text: str, name: str = "thresholds") -> list[float]:
    """A typed list of thresholds ("60,90,120"; Chinese commas and 、 too) as numbers, in the
    order typed; a part that is not a number is refused, naming it. The one reading of a
    threshold list (the analysis and the what-if, on every surface)."""
    numbers = []
    for part in re.split(r"[,，、]", text):
        if not part.strip():
            continue
        try:
            numbers.append(float(part.strip()))
        except ValueError:
            shown = part.strip()[:20]
            raise Invalid.field(
                name, text[:80], f"“{shown}”不是数字", f"“{shown}” is not a number"
            ) from None
    return numbers


def parse_class_thresholds(parts: list[str], name: str = "class_thresholds") -> dict[str, float]:
    """``["school:95", "housing=60"]`` → {"school": 95.0, "housing": 60.0}: a class and its
    line, by ``:`` or ``=`` (the API's comma list and the command line's repeated option);
    whether the class exists and the line is positive is ``admission_classes``' to say."""
    parsed: dict[str, float] = {}
    for part in parts:
        if not part.strip():
            continue
        name_part, sign, number = part.replace("=", ":", 1).partition(":")
        try:
            if not sign:
                raise ValueError
            parsed[name_part.strip()] = float(number)
        except ValueError:
            raise Invalid.field(
                name,
                part[:80],
                "应写作 类别:分数，例如 school:95,housing:60",
                "write class:points, e.g. school:95,housing:60",
            ) from None
    return parsed


def parse_thresholds(
    value: str | tuple[float, ...] | list[float], name: str = "thresholds"
) -> tuple[float, ...]:
    """Thresholds: positive numbers up to ``HIGHEST_THRESHOLD`` in ascending order, none
    repeated, at most ``MAX_THRESHOLDS``; a text is a comma list ("60,90,120")."""
    numbers = (
        threshold_numbers(value, name) if isinstance(value, str) else [float(n) for n in value]
    )
    shown = ",".join(f"{number:g}" for number in numbers)
    if not numbers:
        raise Invalid.field(name, shown, "至少给出一个分数线", "give at least one threshold")
    if any(not 0 < number <= HIGHEST_THRESHOLD for number in numbers):  # NaN fails too
        raise Invalid.field(
            name,
            shown,
            f"分数线须为正数，且不超过 {HIGHEST_THRESHOLD:g}",
            f"thresholds are numbers above 0 and at most {HIGHEST_THRESHOLD:g}",
        )
    if len(set(numbers)) != len(numbers):
        raise Invalid.field(name, shown, "分数线不能重复", "thresholds must not repeat")
    if numbers != sorted(numbers):
        raise Invalid.field(name, shown, "分数线须从低到高排列", "thresholds must be ascending")
    if len(numbers) > MAX_THRESHOLDS:
        raise Invalid.field(
            name,
            shown,
            f"分数线最多 {MAX_THRESHOLDS} 条",
            f"at most {MAX_THRESHOLDS} thresholds",
        )
    return tuple(numbers)


def admission_classes(overrides: Mapping[str, float] | None = None) -> list[AdmissionClass]:
    """``ADMISSION_CLASSES`` with the thresholds of ``overrides`` (class id → points) in
    place; an unknown class or a threshold not positive is refused."""
    changed = dict(overrides or {})
    known = {admission.id for admission in ADMISSION_CLASSES}
    for name, value in changed.items():
        if name not in known:
            raise Invalid.field(
                "class_thresholds",
                name,
                f"没有类别 {name}（可选 {', '.join(sorted(known))}）",
                f"no class {name} (one of {', '.join(sorted(known))})",
            )
        if not value > 0 or value == float("inf"):
            raise Invalid.field(
                "class_thresholds", value, "分数线须为正数", "thresholds must be positive"
            )
    return [
        AdmissionClass(
            admission.id,
            admission.label_zh,
            admission.label_en,
            float(changed[admission.id]),
            "configured for this analysis",
        )
        if admission.id in changed
        else admission
        for admission in ADMISSION_CLASSES
    ]


def _check_quota(quota: int | None, batches: int) -> None:
    if quota is not None and not 1 <= quota <= 10_000_000:
        raise Invalid.field("quota", quota, "每年名额须为正整数", "the yearly quota must be ≥ 1")
    if not 1 <= batches <= 50:
        raise Invalid.field("batches", batches, "批次数须在 1–50 之间", "batches: 1 to 50")


class Population(Protocol):
    """The aggregates of one population, by either engine: ``PolarsPopulation`` (the
    kernel's functions over a frame) or ``kernels.analysis.spark.SparkPopulation``."""

    def residents(self) -> int: ...
    def summary(self) -> dict[str, float]: ...
    def histogram(self, width: float) -> pl.DataFrame: ...
    def by_dimension(
        self, dimension: str, thresholds: Sequence[float], labels: Mapping[str, str] | None
    ) -> pl.DataFrame: ...
    def indicators(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None
    ) -> pl.DataFrame: ...
    def indicators_by_town(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None
    ) -> pl.DataFrame: ...
    def counts_at(self, thresholds: Sequence[float], run_id: int | None) -> pl.DataFrame: ...
    def layers(
        self,
        thresholds: Sequence[float],
        classes: Sequence[AdmissionClass],
        quota: int | None,
        batches: int,
        first_year: int,
    ) -> kernel.Layers: ...
    def release(self) -> None: ...


class PolarsPopulation:
    """``kernel.population``'s frame with the aggregates ``Population`` names."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def residents(self) -> int:
        return self.frame.height

    def summary(self) -> dict[str, float]:
        return kernel.summary(self.frame.get_column(kernel.TOTAL))

    def histogram(self, width: float) -> pl.DataFrame:
        return kernel.histogram(self.frame.get_column(kernel.TOTAL), width)

    def by_dimension(
        self, dimension: str, thresholds: Sequence[float], labels: Mapping[str, str] | None
    ) -> pl.DataFrame:
        return kernel.by_dimension(self.frame, dimension, thresholds, labels)

    def indicators(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None
    ) -> pl.DataFrame:
        return kernel.indicators(self.frame, indicator_ids, labels)

    def indicators_by_town(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None
    ) -> pl.DataFrame:
        return kernel.indicators_by_town(self.frame, indicator_ids, labels)

    def counts_at(self, thresholds: Sequence[float], run_id: int | None) -> pl.DataFrame:
        totals = self.frame.select(pl.lit(run_id, pl.Int64).alias("run_id"), kernel.TOTAL)
        return kernel.counts_at(totals, thresholds)

    def layers(
        self,
        thresholds: Sequence[float],
        classes: Sequence[AdmissionClass],
        quota: int | None,
        batches: int,
        first_year: int,
    ) -> kernel.Layers:
        return kernel.layers(self.frame, thresholds, classes, quota, batches, first_year)

    def release(self) -> None:
        """Nothing held beyond the frame."""


def indicator_labels(policy: Policy) -> dict[str, str]:
    return {item.id: f"{item.label.zh} {item.label.en}" for item in policy.indicators}


@dataclass(frozen=True)
class Aggregates:
    """What ``PointsAnalysis`` shows of one population, whichever engine counted it."""

    residents: int
    summary: dict[str, float]
    histogram: pl.DataFrame
    by_dimension: dict[str, pl.DataFrame]
    indicators: pl.DataFrame
    indicators_by_town: pl.DataFrame
    layers: pl.DataFrame
    batches: pl.DataFrame
    batch_one: pl.DataFrame
    """Unnamed (``rank, resident_id, total, town, classes``)."""
    classes: pl.DataFrame


def aggregate(
    population: Population,
    thresholds: tuple[float, ...],
    policy: Policy,
    towns: Mapping[str, str],
    classes: Sequence[AdmissionClass],
    quota: int | None,
    batches: int,
    first_year: int,
) -> Aggregates:
    """The tables of the analysis, labelled (``towns``: code → name, may be empty)."""
    indicator_ids = policy.indicator_ids
    labels = indicator_labels(policy)
    by_dimension = {
        name: population.by_dimension(
            name,
            thresholds,
            (dict(towns) if name == "town" else GROUP_LABELS.get(name, {}))
            | {kernel.UNKNOWN: UNKNOWN_LABEL},
        )
        for name in DIMENSIONS
    }
    by_town = population.indicators_by_town(indicator_ids, labels)
    by_town = by_town.select(
        "town",
        pl.col("town")
        .replace_strict(dict(towns) | {kernel.UNKNOWN: UNKNOWN_LABEL}, default=pl.col("town"))
        .alias("town_name"),
        pl.exclude("town"),
    )
    layered = population.layers(thresholds, classes, quota, batches, first_year)
    class_labels = {item.id: f"{item.label_zh} {item.label_en}" for item in classes}

    def with_class_label(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(
            "class",
            pl.col("class").replace_strict(class_labels, default=None).alias("class_label"),
            pl.exclude("class"),
        )

    return Aggregates(
        residents=population.residents(),
        summary=population.summary(),
        histogram=population.histogram(HISTOGRAM_WIDTH),
        by_dimension=by_dimension,
        indicators=population.indicators(indicator_ids, labels),
        indicators_by_town=by_town,
        layers=with_class_label(layered.layers),
        batches=with_class_label(layered.batches),
        batch_one=layered.batch_one,
        classes=pl.DataFrame(
            {
                "class": [item.id for item in classes],
                "label_zh": [item.label_zh for item in classes],
                "label_en": [item.label_en for item in classes],
                "threshold": [item.threshold for item in classes],
                "source": [item.source for item in classes],
            }
        ),
    )


def _points_frame(session: Session, run_id: int) -> pl.DataFrame:
    """``resident_id, total`` and one column per indicator of the run's stored frame (every
    part checked against its digest; the inputs are not decoded)."""
    stored = frames.from_parts(
        scoring_repository.frame_parts(session, run_id),
        f"scoring run {run_id}",
        columns=[kernel.KEY, kernel.TOTAL, frames.POINTS],
    )
    # Stored sorted by resident: sorting again is cheap and flags it, so that the joins
    # with the registry and the previous run merge (docs/analytics.md).
    return stored.unnest(frames.POINTS).sort(kernel.KEY)


def people(
    actor: Actor, session: Session, as_of: date, ids: bulk.IdRange | None = None
) -> pl.DataFrame:
    """What the analysis reads of each resident (``kernel.PEOPLE_COLUMNS``) as of a date, of
    the residents ``actor`` reads (of ``ids`` only, when given): the columns an inputs
    export carries beside the inputs (``scoring.exchange``)."""
    return repository.people(session, actor, as_of, ids)


def points_analysis(
    actor: Actor,
    session: Session,
    run_id: int,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
    *,
    quota: int | None = None,
    batches: int = DEFAULT_BATCHES,
    class_thresholds: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PointsAnalysis:
    """The analysis of run ``run_id`` (docs/analytics.md): 404 for a run the actor
    does not reach, 422 naming the parameter for bad thresholds, quota or classes."""
    require(actor, *CONSOLE_AREAS["analysis"])
    say = progress or (lambda _text: None)
    thresholds = parse_thresholds(thresholds)
    classes = admission_classes(class_thresholds)
    _check_quota(quota, batches)
    run = scoring_repository.run_by_id(session, actor, run_id)
    if run is None:
        raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    policy = compiled_from_text(run.policy_text, f"scoring run {run.id}").policy
    indicator_ids = policy.indicator_ids
    labels = indicator_labels(policy)

    say(f"读取计分批次 {run.id} / reading scoring run {run.id}")
    current = _points_frame(session, run.id)
    say(f"读取登记库 / reading the registry ({current.height:,})")
    people = repository.people(session, actor, run.as_of)
    towns = repository.town_names(session, actor)
    population = kernel.population(current, people, run.as_of)

    say("汇总 / aggregating")
    computed = aggregate(
        PolarsPopulation(population),
        thresholds,
        policy,
        towns,
        classes,
        quota,
        batches,
        run.as_of.year,
    )
    runs = repository.runs_of_policy(session, actor, run.policy_id, run.id)
    dates = pl.DataFrame(
        {"run_id": [item.id for item in runs], "as_of": [item.as_of for item in runs]},
        schema={"run_id": pl.Int64, "as_of": pl.Date},
    )
    earlier = [item for item in runs if item.id < run.id]
    previous_id = earlier[-1].id if earlier else None
    in_memory = [("current", run.id, current)]
    if previous_id is not None:
        say(f"对比上一批次 {previous_id} / against run {previous_id}")
        previous = _points_frame(session, previous_id)
        in_memory.append(("previous", previous_id, previous))
        moved = kernel.movement(current, previous, thresholds, indicator_ids)
        movement_summary, movement = moved.summary, moved.by_indicator
    else:
        empty = current.head(0)
        movement_summary = kernel.movement(current, empty, thresholds, indicator_ids).summary
        movement = kernel.movement(empty, empty, thresholds, indicator_ids).by_indicator
    # The runs whose totals are in memory are counted here; the older ones in SQL.
    held = [run_id for _, run_id, _ in in_memory]
    counts = pl.concat(
        [
            kernel.counts_at(
                frame.select(pl.lit(run_id, pl.Int64).alias("run_id"), kernel.TOTAL), thresholds
            )
            for _, run_id, frame in in_memory
        ]
        + [
            repository.counts_at_thresholds(
                session, [item.id for item in runs if item.id not in held], thresholds
            )
        ]
    )
    over_runs = (
        counts.join(dates, on="run_id")
        .select("run_id", "as_of", "threshold", "residents")
        .sort("run_id", "threshold")
    )
    movement = movement.select(
        "threshold",
        "indicator",
        pl.col("indicator")
        .replace_strict(
            labels | {kernel.NOT_ATTRIBUTED: "未归因 not attributed"}, default=pl.col("indicator")
        )
        .alias("label"),
        "crossed_up",
        "crossed_down",
        "residents",
    )

    # Who is in batch 1 names people (masked): only for the roles that open the residents'
    # register; a department's reviewer gets the counts on every channel (page, API, CLI).
    batch_one = computed.batch_one if may_see_people(actor) else computed.batch_one.clear()
    if batch_one.height:
        named = repository.masked_people(session, actor, batch_one.get_column(kernel.KEY).to_list())
        batch_one = batch_one.join(named, on=kernel.KEY, how="left").select(
            "rank",
            pl.col("name").fill_null("***"),
            pl.col("id_number").fill_null("***"),
            kernel.TOTAL,
            "town",
            pl.col("town").replace_strict(towns, default=pl.col("town")).alias("town_name"),
            "classes",
        )
    return PointsAnalysis(
        run=RunRead.model_validate(run),
        thresholds=thresholds,
        residents=computed.residents,
        summary=computed.summary,
        histogram=computed.histogram,
        by_dimension=computed.by_dimension,
        indicators=computed.indicators,
        indicators_by_town=computed.indicators_by_town,
        thresholds_over_runs=over_runs,
        movement=movement,
        layers=computed.layers,
        movement_summary=movement_summary,
        previous_run_id=previous_id,
        classes=computed.classes,
        quota=quota,
        batches=computed.batches,
        batch_one=batch_one,
    )


Engine = Literal["polars", "spark"]

DATASET_NOTES: Final = (
    (
        "数据集分析：没有上一批次可比较，不含跨线分析（需按计分批次分析：--run）",
        "from a dataset: no previous run to compare with, so no movement across thresholds "
        "(analyse a stored run for it: --run)",
    ),
    (
        "数据集中没有姓名，不列第一批名单（需登记库脱敏并记入审计：--run）",
        "a dataset holds no names: no batch 1 list (it needs the registry's masking and the "
        "audit log: --run)",
    ),
)
"""What an analysis of a scored dataset cannot show, said in its exports."""


def _check_columns(columns: Sequence[str], indicator_ids: Sequence[str], name: str) -> None:
    missing = [c for c in (kernel.KEY, kernel.TOTAL, *indicator_ids) if c not in columns]
    if missing:
        raise Invalid.field(
            "input",
            name,
            f"计分数据集缺少列：{'、'.join(missing)}",
            f"the scored dataset lacks the columns: {', '.join(missing)}",
        )


def _not_a_date(error: kernel.NotADate, name: str) -> Invalid:
    return Invalid(
        f"{name}：列 {error.column} 是 {error.type_name}，不是日期",
        f"{name}: column {error.column} is {error.type_name}, not a date",
        [FieldProblem(error.column, error.type_name, "应为日期", "must be a date", file=name)],
    )


def dataset_analysis(
    source: Path,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
    *,
    engine: Engine = "polars",
    quota: int | None = None,
    batches: int = DEFAULT_BATCHES,
    class_thresholds: Mapping[str, float] | None = None,
    master: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PointsAnalysis:
    """The analysis of a scored dataset (``luodi.scale.layout``) on Polars or Spark, with
    the same tables as a run's but those a dataset cannot give (``DATASET_NOTES``): no
    database, no actor (the dataset is the caller's file). Town names are the codes."""
    say = progress or (lambda _text: None)
    thresholds = parse_thresholds(thresholds)
    classes = admission_classes(class_thresholds)
    _check_quota(quota, batches)
    from luodi.scale.score import read_scored

    manifest, scan = read_scored(source)
    if not manifest.policy_text:
        raise Invalid.field(
            "input",
            source.name,
            f"{MANIFEST} 中没有策略文本",
            f"{MANIFEST} holds no policy text",
        )
    policy = compiled_from_text(manifest.policy_text, f"{source.name}/{MANIFEST}").policy
    ids = policy.indicator_ids
    say(f"读取 {source.name} / reading {source.name} ({engine})")
    if engine == "spark":
        from luodi.kernels.analysis import spark as spark_kernel
        from luodi.scale.score import read_spark
        from luodi.scale.spark import session

        frame = read_spark(session(master), source)
        _check_columns(frame.columns, ids, source.name)
        try:
            population: Population = spark_kernel.SparkPopulation(
                spark_kernel.population(frame, manifest.as_of, ids)
            )
        except kernel.NotADate as error:
            raise _not_a_date(error, source.name) from None
    else:
        names = scan.collect_schema().names()
        _check_columns(names, ids, source.name)
        wanted = [kernel.KEY, kernel.TOTAL, *ids, kernel.INPUTS, *kernel.PEOPLE_COLUMNS]
        scored = scan.select(list(dict.fromkeys(c for c in wanted if c in names))).collect()
        try:
            points, people = kernel.scored_frames(scored, ids)
        except kernel.NotADate as error:
            raise _not_a_date(error, source.name) from None
        population = PolarsPopulation(kernel.population(points, people, manifest.as_of))
    say("汇总 / aggregating")
    try:
        computed = aggregate(
            population, thresholds, policy, {}, classes, quota, batches, manifest.as_of.year
        )
        counts = population.counts_at(thresholds, 0)
    finally:
        population.release()
    run = unstored_run(
        policy.id,
        policy.version,
        policy.digest,
        manifest.as_of,
        computed.residents,
        computed.summary.get("mean", 0.0),
        f"dataset {source.name} ({manifest.engine})",
    )
    over_runs = counts.select(
        "run_id", pl.lit(manifest.as_of).alias("as_of"), "threshold", "residents"
    )
    empty = pl.DataFrame(schema={kernel.KEY: pl.Int64, kernel.TOTAL: pl.Float64})
    moved = kernel.movement(empty, empty, thresholds, ids)
    movement = moved.by_indicator.select(
        "threshold",
        "indicator",
        pl.lit(None, pl.String).alias("label"),
        pl.exclude("threshold", "indicator"),
    )
    return PointsAnalysis(
        run=run,
        thresholds=thresholds,
        residents=computed.residents,
        summary=computed.summary,
        histogram=computed.histogram,
        by_dimension=computed.by_dimension,
        indicators=computed.indicators,
        indicators_by_town=computed.indicators_by_town,
        thresholds_over_runs=over_runs,
        movement=movement,
        layers=computed.layers,
        movement_summary=moved.summary.clear(),
        previous_run_id=None,
        classes=computed.classes,
        quota=quota,
        batches=computed.batches,
        batch_one=pl.DataFrame(),
        dataset=source.name,
        notes=DATASET_NOTES,
    )


def record_batch_export(
    actor: Actor, session: Session, analysis: PointsAnalysis, channel: str
) -> None:
    """The audit entry of a batch list leaving the system (it names people, masked): who,
    which run, how many, by which channel (``api:json``, ``cli:xlsx`` …). Nothing to record
    when the analysis holds no list."""
    if analysis.batch_one.height == 0:
        return
    audit.record(
        session,
        actor,
        "analysis.batch_list",
        "scoring_run",
        analysis.run.id,
        detail={
            "channel": channel,
            "quota": analysis.quota,
            "residents": analysis.batch_one.height,
            "thresholds": list(analysis.thresholds),
            "classes": {
                row["class"]: row["threshold"] for row in analysis.classes.iter_rows(named=True)
            },
        },
    )
