"""Policy what-if on the registry: a draft policy against the published one in force on a
date, on everyone holding a valid permit then, and on the next school cycle's applications.

The registry is read once (the union of both policies' inputs), both policies score the same
frame, and the school cycle is decided twice with the same seed by the allocation's own code
(``allocation.service.dry_run``: nothing stored). The result is aggregates only (counts by
band, town, origin, threshold and school): it is kept with its job and turned into a
workbook on demand (``policy.whatif_book``). The caller commits (the audit entry).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.analysis import service as analysis_service
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Invalid, NotFound
from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, InputError, prepare_inputs
from luodi.kernels.policy.document import InputSpec, Policy
from luodi.kernels.policy.expressions import Kind, ValueType
from luodi.kernels.policy.whatif import (
    BAND_LABELS,
    BANDS,
    DEFAULT_THRESHOLDS,
    HISTOGRAM_WIDTH,
    NEW,
    OLD,
    PopulationShift,
    SchoolShift,
    population_shift,
    school_shift,
)
from luodi.policy import repository
from luodi.policy.service import (
    compile_text,
    compiled_from_text,
    find_policy,
    input_invalid,
    published_policies,
)
from luodi.registry import service as registry_service
from luodi.scoring import frames
from luodi.scoring import repository as scoring_repository
from luodi.scoring import service as scoring_service
from luodi.scoring.inputs import available_inputs, build_inputs
from luodi.scoring.schemas import unstored_run

if TYPE_CHECKING:
    from luodi.programs.models import ProgramCycle
    from luodi.scoring.models import ScoringRun

WHATIF_ROLES = (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR)
"""Who may run a what-if: the console's analysis roles. It reads every valid permit holder's
data through a policy, but what it keeps and shows is counts (docs/analytics.md)."""

PHASES = (
    ("读取输入", "reading the inputs"),
    ("计分 旧", "scoring, published"),
    ("计分 新", "scoring, draft"),
    ("分配 旧", "allocating, published"),
    ("分配 新", "allocating, draft"),
    ("汇总", "summarising"),
)
GROUPING = ("town_code", "origin_province")
"""Registry inputs read for the tables whether or not either policy scores with them."""

Progress = Callable[[str, int, int], None]


def points(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.2f}".rstrip("0")


def signed(value: float) -> str:
    return ("+" if value > 0 else "") + points(value)


def check_thresholds(values: Sequence[float] | None) -> list[float]:
    """The lines to count crossings of: any order, repeats dropped, then checked as the
    analysis checks them (positive, finite, at most 10,000, at most ten lines)."""
    if not values:
        return list(DEFAULT_THRESHOLDS)
    ordered = sorted(set(values), key=lambda value: (value != value, value))
    return list(analysis_service.parse_thresholds(tuple(ordered)))


MAX_DRAFT_CHARACTERS = 200_000
"""A points policy is a few hundred lines; anything longer is not one (the page, the job and
the command line refuse it alike)."""
DRAFT_SUFFIXES = (".yaml", ".yml")


def compile_draft(text: str, name: str) -> CompiledPolicy:
    """The draft, or 422 whose problems name their line and column."""
    if not name.lower().endswith(DRAFT_SUFFIXES):
        raise Invalid.field(
            "draft_name",
            name[:80],
            "草稿应为 YAML 文件（.yaml 或 .yml）",
            "the draft is a YAML file (.yaml or .yml)",
        )
    if len(text) > MAX_DRAFT_CHARACTERS:
        raise Invalid.field(
            "draft",
            f"{len(text):,} 个字符 characters",
            f"草稿太长（最多 {MAX_DRAFT_CHARACTERS:,} 个字符）",
            f"the draft is too long (at most {MAX_DRAFT_CHARACTERS:,} characters)",
        )
    if not text.strip():
        raise Invalid.field("draft", "", "草稿为空", "the draft is empty")
    return compile_text(text, name)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def baseline_of(draft: CompiledPolicy, as_of: date) -> CompiledPolicy:
    """The published version with the draft's id in force on ``as_of``."""
    policy_id = draft.policy.id
    if policy_id not in {compiled.policy.id for compiled in published_policies()}:
        raise Invalid.field(
            "id",
            policy_id[:80],
            f"没有已发布的策略编号为 {policy_id[:80]}：草稿的 id 应为它要修改的策略的编号",
            f"no published policy has the id {policy_id[:80]}: a draft keeps the id of the "
            "policy it changes",
        )
    try:
        return find_policy(policy_id, as_of)
    except NotFound as error:
        raise Invalid.field(
            "as_of",
            as_of.isoformat(),
            f"没有可比较的已发布策略：{error.message_zh}",
            f"nothing published to compare with: {error.message_en}",
        ) from None


def _union_policy(baseline: CompiledPolicy, draft: CompiledPolicy) -> Policy:
    """A policy whose inputs are both policies' and the grouping columns: what
    ``build_inputs`` reads, once. A name both declare is read once (its type is each
    policy's own when it is prepared)."""
    inputs: dict[str, InputSpec] = {**baseline.policy.inputs, **draft.policy.inputs}
    for name in GROUPING:
        inputs.setdefault(name, InputSpec(name, ValueType(Kind.STRING), None, True))
    return replace(baseline.policy, inputs=inputs)


def _check_available(draft: CompiledPolicy) -> None:
    available = available_inputs()
    missing = [
        name
        for name, spec in draft.policy.inputs.items()
        if spec.required and name not in available
    ]
    if missing:
        raise Invalid.field(
            "draft",
            ", ".join(missing),
            f"草稿需要登记库无法提供的必填输入：{'、'.join(missing)}（请给出默认值，或改用已有输入："
            f"{', '.join(sorted(available))}）",
            f"the draft needs required inputs the registry cannot provide: {', '.join(missing)} "
            f"(give them a default, or use one of: {', '.join(sorted(available))})",
        )


@dataclass(frozen=True)
class Source:
    """Where both policies' inputs came from: a stored scoring run's frame, or the registry
    (then ``why`` says why not a run, in both languages, or is empty: no run on the date)."""

    run: ScoringRun | None
    why: tuple[str, str] = ("", "")

    def words(self) -> tuple[str, str]:
        if self.run is not None:
            day = self.run.as_of.isoformat()
            return (
                f"输入取自计分批次 {self.run.id}（{day}）",
                f"inputs taken from scoring run {self.run.id} ({day})",
            )
        zh, en = self.why
        return (
            "输入取自登记库" + (f"（{zh}）" if zh else ""),
            "inputs read from the registry" + (f" ({en})" if en else ""),
        )

    def detail(self) -> dict[str, Any]:
        if self.run is not None:
            return {"kind": "run", "run_id": self.run.id, "run_as_of": self.run.as_of}
        return {"kind": "registry", "run_id": None, "why": self.why[1] or None}


def chosen_run(
    actor: Actor, session: Session, draft: CompiledPolicy, as_of: date | None, run_id: int | None
) -> ScoringRun | None:
    """The run named (refused unless it scored the draft's policy id, on ``as_of`` when one is
    given), or the newest readable run of the draft's policy id on ``as_of``."""
    policy_id = draft.policy.id
    if run_id is None:
        if as_of is None:
            return None
        return scoring_repository.newest_run_of_policy_on(session, actor, policy_id, as_of)
    run = scoring_repository.run_by_id(session, actor, run_id)
    if run is None:
        raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    if run.policy_id != policy_id:
        raise Invalid.field(
            "run",
            str(run_id),
            f"计分批次 {run_id} 按策略 {run.policy_id} 计分，草稿的策略是 {policy_id}",
            f"scoring run {run_id} scored policy {run.policy_id}, the draft is {policy_id}",
        )
    if as_of is not None and run.as_of != as_of:
        raise Invalid.field(
            "run",
            str(run_id),
            f"计分批次 {run_id} 的计分日是 {run.as_of}，不是 {as_of}",
            f"scoring run {run_id} scored as of {run.as_of}, not {as_of}",
        )
    return run


def _unstored(run: ScoringRun, policies: Sequence[CompiledPolicy]) -> list[str]:
    """The inputs either policy reads from the registry that the run's frame does not hold
    as that policy would read them: absent, at its default in the run, of another type, or
    with another default (a stored value is after the run's default filled the gaps)."""
    stored = compiled_from_text(run.policy_text, f"scoring run {run.id}").policy.inputs
    defaulted = set(filter(None, run.defaulted_inputs.split(",")))
    available = available_inputs()
    missing: list[str] = []
    for compiled in policies:
        for name, spec in compiled.policy.inputs.items():
            if name not in available:
                continue  # neither path reads it: both score it at the policy's default
            held = stored.get(name)
            same = (
                held is not None
                and name not in defaulted
                and held.type == spec.type
                and (not held.has_default or (spec.has_default and spec.default == held.default))
            )
            if not same and name not in missing:
                missing.append(name)
    return missing


def _stored_inputs(
    actor: Actor, session: Session, run: ScoringRun
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The run's typed inputs of the residents in it ``actor`` reads, their town and origin
    from the registry (as the registry path groups them), and their stored totals. Every
    part, only the columns needed (not the points struct: half a part's decoding)."""
    parts = scoring_repository.frame_parts(session, run.id)
    stored = frames.from_parts(parts, f"scoring run {run.id}", [KEY, "total", frames.INPUTS])
    groups = stored.select(KEY).join(
        repository.resident_groups(session, actor), on=KEY, how="inner"
    )
    kept = stored.join(groups.select(KEY), on=KEY, how="semi")
    inputs = frames.typed_inputs(kept)
    # An input the run scored at its default is no reading of the registry: each policy
    # takes its own default for it, as on the registry path.
    defaulted = set(filter(None, run.defaulted_inputs.split(",")))
    available = available_inputs()
    return (
        inputs.select(
            KEY, *[name for name in inputs.columns if name in available and name not in defaulted]
        ),
        groups,
        kept.select(KEY, pl.col("total").alias("stored")),
    )


def _scores(
    compiled: CompiledPolicy, frame: pl.DataFrame, as_of: date, which: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The policy's typed inputs and each resident's total."""
    try:
        typed = prepare_inputs(frame, compiled.policy)
    except InputError as error:
        raise input_invalid(error, f"登记库 registry ({which})") from None
    return typed, compiled.score(typed, as_of).select(KEY, TOTAL)


@dataclass(frozen=True)
class Inputs:
    """Both policies' inputs and the baseline's scores, from wherever they came."""

    source: Source
    frame: pl.DataFrame
    """``KEY`` and the inputs (raw from the registry, typed from a run)."""
    groups: pl.DataFrame
    """``KEY`` and ``GROUPING``."""
    typed_old: pl.DataFrame
    old: pl.DataFrame
    not_scored: dict[str, int]


def _from_run(
    actor: Actor,
    session: Session,
    run: ScoringRun,
    baseline: CompiledPolicy,
    draft: CompiledPolicy,
    as_of: date,
) -> Inputs | tuple[str, str]:
    """The inputs from the run, or why not (zh, en)."""
    missing = _unstored(run, (baseline, draft))
    if missing:
        return (
            f"计分批次 {run.id} 未按相同类型与默认值保存所需输入：{'、'.join(missing)}",
            f"scoring run {run.id} does not hold these inputs with the same type and default: "
            f"{', '.join(missing)}",
        )
    try:
        frame, groups, stored = _stored_inputs(actor, session, run)
    except frames.FrameDamaged:
        return (
            f"计分批次 {run.id} 的存储与其摘要不符",
            f"scoring run {run.id}'s stored frame does not match its digest",
        )
    if frame.height == 0:
        return (f"计分批次 {run.id} 中没有可读的居民", f"nobody readable in scoring run {run.id}")
    typed_old, old = _scores(baseline, frame, as_of, f"计分批次 {run.id} scoring run")
    # The baseline on the run's inputs must give the run's totals, everyone's, exactly: where
    # it does not, the run was scored by another version (or other rules) and its inputs are
    # not what this baseline reads.
    differing = (
        old.join(stored, on=KEY, how="left")
        .filter(pl.col("stored").is_null() | (pl.col(TOTAL).cast(pl.Float64) != pl.col("stored")))
        .height
    )
    if differing:
        version = baseline.policy.version
        return (
            f"现行版本 {version} 在计分批次 {run.id} 的输入上算出的总分有 {differing:,} 人与该批次不同："
            "该批次不是按此版本计分",
            f"the published version {version} gives {differing:,} residents another total than "
            f"scoring run {run.id} on its inputs: the run was not scored by this version",
        )
    not_scored = {f"计分批次 {run.id} / run {run.id}": int(run.residents_skipped)}
    return Inputs(Source(run), frame, groups, typed_old, old, not_scored)


def read_inputs(
    actor: Actor,
    session: Session,
    baseline: CompiledPolicy,
    draft: CompiledPolicy,
    as_of: date,
    run: ScoringRun | None,
) -> Inputs:
    """From ``run`` when it holds what both policies read and the baseline reproduces its
    totals; else from the registry, saying why."""
    why = ("", "")
    if run is not None:
        taken = _from_run(actor, session, run, baseline, draft, as_of)
        if isinstance(taken, Inputs):
            return taken
        why = taken
    population = build_inputs(actor, session, _union_policy(baseline, draft), as_of, 0)
    frame = population.frame
    if frame.height == 0:
        raise Invalid(
            f"{as_of} 没有持有效居住证的居民可计分", f"nobody holds a valid permit on {as_of}"
        )
    typed_old, old = _scores(baseline, frame, as_of, "现行 published")
    return Inputs(
        Source(None, why),
        frame,
        frame.select(KEY, *GROUPING),
        typed_old,
        old,
        {str(state): int(count) for state, count in population.skipped_by_state.items()},
    )


def _decided(
    actor: Actor,
    session: Session,
    cycle: ProgramCycle,
    compiled: CompiledPolicy,
    typed: pl.DataFrame,
    totals: pl.DataFrame,
    as_of: date,
    seed: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = totals.rename({TOTAL: "points"}).join(typed, on=KEY, how="left")
    mean = float(totals[TOTAL].mean() or 0.0)  # type: ignore[arg-type]
    scores = scoring_service.StoredScores(
        unstored_run(
            compiled.policy.id,
            compiled.policy.version,
            compiled.policy.digest,
            as_of,
            totals.height,
            mean,
            "whatif",
        ),
        compiled,
        frame,
    )
    return allocation.dry_run(actor, session, cycle, scores, seed)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts()


def _school_part(
    shift: SchoolShift, cycle: ProgramCycle, seed: str, towns: dict[str, str]
) -> dict[str, Any]:
    schools = shift.schools
    old_cut = schools["cutoff_old"].drop_nulls()
    new_cut = schools["cutoff_new"].drop_nulls()
    return {
        "cycle_id": cycle.id,
        "cycle_name": cycle.name,
        "cycle_as_of": cycle.as_of.isoformat(),
        "seed": seed,
        "applications": shift.applications,
        "placed_old": shift.placed_old,
        "placed_new": shift.placed_new,
        "gained": shift.gained,
        "lost": shift.lost,
        "moved": shift.moved,
        "cutoff_old": float(old_cut.median()) if old_cut.len() else None,  # type: ignore[arg-type]
        "cutoff_new": float(new_cut.median()) if new_cut.len() else None,  # type: ignore[arg-type]
        "by_town": [
            {**row, "town_name": towns.get(row["town_code"] or "", row["town_code"] or "")}
            for row in _rows(shift.by_town)
        ],
        "schools": _rows(schools.sort("target_id")),
    }


def summary_lines(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The one-screen summary in words (zh, en), with numbers."""
    zh: list[str] = []
    en: list[str] = []
    base, draft = result["baseline"], result["draft"]
    residents = result["residents"]
    zh.append(
        f"计分日 {result['as_of']}，{residents:,} 名持有效居住证的居民："
        f"{base['id']} {base['version']}（现行）→ 草稿 {draft['name']}"
    )
    en.append(
        f"{residents:,} residents with a valid permit on {result['as_of']}: "
        f"{base['id']} {base['version']} (published) → draft {draft['name']}"
    )
    starts, ends = result["draft"].get("effective_from"), result["draft"].get("effective_to")
    if starts and starts > result["as_of"]:
        zh.append(f"草稿 {starts} 起施行；此处按 {result['as_of']} 的登记库比较")
        en.append(
            f"the draft takes effect on {starts}; compared on the registry of {result['as_of']}"
        )
    elif ends and ends < result["as_of"]:
        zh.append(f"草稿 {ends} 已失效；此处按 {result['as_of']} 的登记库比较")
        en.append(f"the draft ended on {ends}; compared on the registry of {result['as_of']}")
    source = result.get("source")
    if source:  # a result kept before the source was recorded has none
        zh.append(source["zh"])
        en.append(source["en"])
    mean_old, mean_new = result["mean_old"], result["mean_new"]
    zh.append(
        f"平均分 {points(mean_old)} → {points(mean_new)}（{signed(mean_new - mean_old)}），"
        f"中位数 {points(result['median_old'])} → {points(result['median_new'])}"
    )
    en.append(
        f"mean {points(mean_old)} → {points(mean_new)} ({signed(mean_new - mean_old)}), "
        f"median {points(result['median_old'])} → {points(result['median_new'])}"
    )
    bands = result["bands"]
    gained = bands["gain_less"] + bands["gain_more"]
    lost = bands["lose_less"] + bands["lose_more"]
    zh.append(
        f"上升 {gained:,} 人（其中超过 10 分 {bands['gain_more']:,} 人），"
        f"下降 {lost:,} 人（其中超过 10 分 {bands['lose_more']:,} 人），不变 {bands['same']:,} 人"
    )
    en.append(
        f"{gained:,} gain ({bands['gain_more']:,} by more than 10), {lost:,} lose "
        f"({bands['lose_more']:,} by more than 10), {bands['same']:,} unchanged"
    )
    for row in result["crossings"]:
        if not row["up"] and not row["down"]:
            continue
        line = points(row["threshold"])
        zh.append(
            f"{row['up']:,} 人跨过 {line} 分、{row['down']:,} 人跌落（达线 {row['old']:,} → {row['new']:,} 人）"
        )
        en.append(
            f"{row['up']:,} cross {line} upwards and {row['down']:,} fall below "
            f"({row['old']:,} → {row['new']:,} at or above)"
        )
    school = result["school"]
    if school is None:
        note = result["school_note"]
        zh.append(note["zh"])
        en.append(note["en"])
    else:
        old_cut, new_cut = school["cutoff_old"], school["cutoff_new"]
        if old_cut is not None and new_cut is not None:
            verb_zh, verb_en = (
                ("提高", "raises")
                if new_cut > old_cut
                else ("降低", "lowers")
                if new_cut < old_cut
                else ("不改变", "keeps")
            )
            zh.append(
                f"{verb_zh}入学分数线（各校最低录取分的中位数）：{points(old_cut)} → {points(new_cut)}"
            )
            en.append(
                f"{verb_en} the school cut-off (median of the schools' lowest admitted points): "
                f"{points(old_cut)} → {points(new_cut)}"
            )
        zh.append(
            f"入学周期「{school['cycle_name']}」{school['applications']:,} 份申请："
            f"{school['gained']:,} 名儿童将获得学位，{school['lost']:,} 名将失去学位，"
            f"{school['moved']:,} 名换校"
        )
        en.append(
            f"school cycle “{school['cycle_name']}”, {school['applications']:,} applications: "
            f"{school['gained']:,} children would gain a place, {school['lost']:,} would lose "
            f"one, {school['moved']:,} would change school"
        )
    return zh, en


def whatif_result(
    as_of: date,
    thresholds: list[float],
    baseline: CompiledPolicy,
    draft: CompiledPolicy,
    draft_name: str,
    shift: PopulationShift,
    source: dict[str, Any],
    not_scored: dict[str, int],
    defaulted: list[str],
    towns: dict[str, str],
    school: dict[str, Any] | None,
    note: dict[str, str] | None,
) -> dict[str, Any]:
    """The what-if's result as JSON (what ``whatif_book.workbook`` and the page read), with
    its ``summary`` in both languages, whichever engine and inputs gave ``shift``."""
    result: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "thresholds": thresholds,
        "baseline": {
            "id": baseline.policy.id,
            "version": baseline.policy.version,
            "digest": baseline.policy.digest,
            "name_zh": baseline.policy.name.zh,
            "name_en": baseline.policy.name.en,
        },
        "draft": {
            "id": draft.policy.id,
            "version": draft.policy.version,
            "digest": draft.policy.digest,
            "name": draft_name,
            "effective_from": _day(draft.policy.effective_from),
            "effective_to": _day(draft.policy.effective_to),
        },
        "residents": shift.residents,
        "source": source,
        "not_scored": not_scored,
        "defaulted": defaulted,
        "mean_old": shift.mean_old,
        "mean_new": shift.mean_new,
        "median_old": shift.median_old,
        "median_new": shift.median_new,
        "bands": {band: int(shift.bands[band][0]) for band in BANDS},
        "band_labels": {band: list(label) for band, label in BAND_LABELS.items()},
        "by_town": [
            {**row, "town_name": towns.get(row["town_code"] or "", row["town_code"] or "")}
            for row in _rows(shift.by_town)
        ],
        "by_origin": _rows(shift.by_origin),
        "histogram_width": HISTOGRAM_WIDTH,
        "histogram": _rows(shift.histogram),
        "crossings": _rows(shift.crossings),
        "school": school,
        "school_note": note,
    }
    zh, en = summary_lines(result)
    result["summary"] = {"zh": zh, "en": en}
    return result


def run_whatif(
    actor: Actor,
    session: Session,
    draft_text: str,
    draft_name: str,
    as_of: date,
    thresholds: Sequence[float] | None = None,
    progress: Progress | None = None,
    run_id: int | None = None,
) -> dict[str, Any]:
    """The what-if of a draft (YAML text) against the published policy in force on ``as_of``:
    the result as JSON (``summary`` in both languages, then the tables). The inputs come from
    scoring run ``run_id`` when given, else from the newest readable run of the draft's
    policy id on ``as_of``, else from the registry (``read_inputs``)."""
    require(actor, *WHATIF_ROLES)
    say = progress or (lambda _phase, _done, _total: None)
    steps = len(PHASES)

    def phase(index: int) -> None:
        zh, en = PHASES[index]
        say(f"{zh} / {en}", index, steps)

    chosen = check_thresholds(thresholds)
    draft = compile_draft(draft_text, draft_name)
    baseline = baseline_of(draft, as_of)
    _check_available(draft)

    phase(0)
    run = chosen_run(actor, session, draft, as_of, run_id)
    read = read_inputs(actor, session, baseline, draft, as_of, run)
    frame = read.frame
    towns = {town.code: town.name for town in registry_service.resident_towns(actor, session)}

    phase(1)
    typed_old, old = read.typed_old, read.old
    phase(2)
    typed_new, new = _scores(draft, frame, as_of, "草稿 draft")
    joined = (
        old.rename({TOTAL: OLD}).join(new.rename({TOTAL: NEW}), on=KEY).join(read.groups, on=KEY)
    )
    shift: PopulationShift = population_shift(joined, chosen)

    cycle = allocation.next_school_cycle(actor, session, draft.policy.id)
    school: dict[str, Any] | None = None
    note: dict[str, str] | None = None
    if cycle is None:
        note = {
            "zh": f"没有正在进行或即将进行、已有申请的入学周期（按 {draft.policy.id} 积分）：未估算入学影响",
            "en": f"no school cycle ranking by {draft.policy.id} has applications: "
            "the effect on school places was not estimated",
        }
    else:
        seed = allocation.whatif_seed(actor, session, cycle)
        phase(3)
        decided_old, targets = _decided(
            actor, session, cycle, baseline, typed_old, old, as_of, seed
        )
        phase(4)
        decided_new, _targets = _decided(actor, session, cycle, draft, typed_new, new, as_of, seed)
        if decided_old.is_empty() or decided_new.is_empty():
            note = {
                "zh": f"入学周期「{cycle.name}」的申请人都不在计分范围内：未估算入学影响",
                "en": f"nobody applying in school cycle “{cycle.name}” was scored: "
                "the effect on school places was not estimated",
            }
        else:
            school = _school_part(
                school_shift(decided_old, decided_new, targets), cycle, seed, towns
            )

    phase(5)
    source_zh, source_en = read.source.words()
    union = _union_policy(baseline, draft).inputs
    # The inputs neither path can read: both score them at each policy's default.
    defaulted = [name for name in union if name not in available_inputs()]
    result = whatif_result(
        as_of,
        chosen,
        baseline,
        draft,
        draft_name,
        shift,
        {**read.source.detail(), "zh": source_zh, "en": source_en},
        read.not_scored,
        defaulted,
        towns,
        school,
        note,
    )
    audit.record(
        session,
        actor,
        "policy.whatif",
        "policy",
        draft.policy.id,
        detail={
            "draft_digest": draft.policy.digest,
            "draft_version": draft.policy.version,
            "baseline_version": baseline.policy.version,
            "baseline_digest": baseline.policy.digest,
            "as_of": as_of,
            "thresholds": chosen,
            "residents": shift.residents,
            "cycle": school["cycle_id"] if school else None,
            "source": read.source.detail(),
        },
    )
    return result


DATASET_SCHOOL_NOTE = {
    "zh": "数据集试算：入学影响需要登记库中的入学申请，未估算",
    "en": "from a dataset: the effect on school places needs the registry's applications and "
    "was not estimated",
}


def _refused_records(refused: Any) -> int:
    """Distinct input records refused (a record can be refused for several columns)."""
    return int(refused.select("file", "row").distinct().count())


def dataset_whatif(
    draft_text: str,
    draft_name: str,
    baseline: CompiledPolicy,
    source: Path,
    as_of: date,
    thresholds: Sequence[float] | None = None,
    *,
    master: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The what-if of a draft against ``baseline`` on an inputs dataset (``luodi export
    inputs``), both scored on Spark (``scale.score.spark_points``) and joined on the
    resident: the same result as ``run_whatif`` without the school cycle (a dataset holds
    no applications) and without the database (the dataset is the caller's file). Records
    either policy refuses are left out and counted in ``not_scored``."""
    from luodi.kernels.analysis.points import person_sources
    from luodi.kernels.policy import spark_whatif
    from luodi.scale import layout
    from luodi.scale.score import spark_points
    from luodi.scale.spark import session

    say = progress or (lambda _phase, _done, _total: None)
    steps = 4
    chosen = check_thresholds(thresholds)
    draft = compile_draft(draft_text, draft_name)
    say("读取输入 / reading the inputs", 0, steps)
    spark = session(master)
    old, refused_old = spark_points(spark, source, baseline, as_of)
    new, refused_new = spark_points(spark, source, draft, as_of)
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf
    from pyspark.sql.types import StructType

    inputs_type = old.schema[layout.INPUTS].dataType
    fields = inputs_type.fieldNames() if isinstance(inputs_type, StructType) else []
    sources = person_sources(old.columns, fields)

    def group(name: str) -> Any:
        where = sources.get(name)
        if where is None:
            return sf.lit(None).cast("string").alias(name)
        column = sf.col(name) if where == "column" else sf.col(layout.INPUTS).getField(name)
        return column.cast("string").alias(name)

    joined = old.select(KEY, sf.col(TOTAL).alias(OLD), *[group(name) for name in GROUPING]).join(
        new.select(KEY, sf.col(TOTAL).alias(NEW)), on=KEY, how="inner"
    )
    say("计分 / scoring, published and draft", 1, steps)
    # Both policies score once: every count below reads the joined totals Spark keeps
    # (memory, then disk), not the checks and the scoring again.
    joined = joined.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        shift = spark_whatif.population_shift(joined, chosen)
    finally:
        joined.unpersist()
    if shift.residents == 0:
        raise Invalid(
            f"{source.name} 中没有两个版本都能计分的居民",
            f"nobody in {source.name} could be scored by both policies",
        )
    say("汇总 / summarising", 3, steps)
    not_scored = {
        f"现行拒收 refused, {baseline.policy.version}": _refused_records(refused_old),
        f"草稿拒收 refused, draft {draft.policy.version}": _refused_records(refused_new),
    }
    present = set(layout.dataset_columns(source))
    union = _union_policy(baseline, draft).inputs
    defaulted = [name for name in union if name not in present and name not in GROUPING]
    source_detail = {
        "kind": "dataset",
        "run_id": None,
        "dataset": source.name,
        "engine": "spark",
        "zh": f"输入取自数据集 {source.name}（Spark）",
        "en": f"inputs taken from the dataset {source.name} (Spark)",
    }
    return whatif_result(
        as_of,
        chosen,
        baseline,
        draft,
        draft_name,
        shift,
        source_detail,
        not_scored,
        defaulted,
        {},
        None,
        DATASET_SCHOOL_NOTE,
    )
