"""Scoring the registry and reading stored scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Invalid, NotFound
from luodi.facts import service as facts_service
from luodi.feeds import catalog
from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, InputError, Policy, prepare_inputs
from luodi.kernels.policy.explain import explain
from luodi.kernels.timeline.permits import PermitState
from luodi.policy.service import compiled_from_text, in_force, input_invalid
from luodi.registry import repository as registry_repository
from luodi.registry import service as registry_service
from luodi.scoring import frames, repository
from luodi.scoring.inputs import DERIVED_FACT_INPUTS, REGISTRY_INPUTS, build_inputs
from luodi.scoring.models import ResidentScore, ScoringRun
from luodi.scoring.schemas import ResidentScoreRead, RunRead, ScoreOfRun

PERSONAL_INPUTS = ("birth_date",)
"""Shown masked on public surfaces until accounts and roles exist (the derived age stays)."""


@dataclass(frozen=True)
class RunResult:
    run: RunRead
    totals: pl.Series
    skipped_by_state: dict[str, int] = field(default_factory=dict)
    """The residents not scored, by permit state on the date (suspended, expired …)."""


def score_registry(
    actor: Actor,
    session: Session,
    compiled: CompiledPolicy,
    as_of: date,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Score everyone with a valid permit on ``as_of`` and store the run (caller commits)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    say = progress or (lambda _text: None)
    policy = compiled.policy
    check_in_force(policy, as_of)
    say("读取登记库与部门数据 / reading registry and facts")
    total_residents = registry_repository.resident_count(session, actor)
    population = build_inputs(actor, session, policy, as_of, total_residents)
    if population.frame.height == 0:
        raise Invalid(
            f"{as_of} 没有持有效居住证的居民可计分", f"nobody holds a valid permit on {as_of}"
        )
    try:
        typed = prepare_inputs(population.frame, policy)
    except InputError as error:
        raise input_invalid(error, "登记库 registry") from None
    say(f"计分 / scoring {typed.height:,}")
    points = compiled.score(typed, as_of)
    say("保存 / storing")
    run = store_run(
        actor,
        session,
        compiled,
        as_of,
        points,
        typed,
        skipped=population.skipped,
        defaulted=population.defaulted,
    )
    return RunResult(run, points.get_column(TOTAL), population.skipped_by_state)


def check_in_force(policy: Policy, as_of: date) -> None:
    """A stored run's policy must be in force on its date (422 naming ``as_of``)."""
    if not in_force(policy, as_of):
        # A stored run is what notices and allocations rest on: a version applied to a date
        # before it took effect (or after it ended) would rank people by rules that did not
        # hold then (《立法法》第一百零四条, 不溯及既往). A what-if belongs to
        # ``luodi policy score`` on a file, which stores nothing.
        until = policy.effective_to.isoformat() if policy.effective_to else ""
        raise Invalid.field(
            "as_of",
            as_of.isoformat(),
            f"策略 {policy.id} {policy.version} 的生效期为 {policy.effective_from}–{until}，"
            f"不能用于 {as_of} 的计分；请用该日生效的版本，或用 luodi policy score 试算",
            f"policy {policy.id} {policy.version} is in force {policy.effective_from}–{until}, "
            f"not on {as_of}; use the version in force then, or luodi policy score for a what-if",
        )


def store_run(
    actor: Actor,
    session: Session,
    compiled: CompiledPolicy,
    as_of: date,
    points: pl.DataFrame,
    typed: pl.DataFrame,
    *,
    skipped: int,
    defaulted: list[str],
    source: str | None = None,
    action: str = "scoring.run",
    detail: Mapping[str, object] | None = None,
) -> RunRead:
    """Store a run of ``compiled`` on ``as_of``: the kernel's ``points`` and the ``typed``
    inputs they came from as the run's frame (its parts and their digest), who was scored
    with their totals, and the audit entry (``action``, with ``detail``). What ``luodi
    score`` and ``luodi import scores`` share: the same frame gives the same digest."""
    policy = compiled.policy
    frame = frames.score_frame(points, typed, policy.indicator_ids)
    parts, digest = frames.to_parts(frame)
    # Of the frame (sorted by resident): the same totals give the same mean bit for bit,
    # whichever order they were scored in.
    mean_total = float(frame.get_column("total").mean() or 0.0)  # type: ignore[arg-type]
    run = ScoringRun(
        policy_id=policy.id,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_text=policy.text,
        as_of=as_of,
        created_by=actor.username,
        residents_scored=frame.height,
        residents_skipped=skipped,
        mean_total=mean_total,
        defaulted_inputs=",".join(defaulted),
        frame_digest=digest,
        source=source,
    )
    session.add(run)
    session.flush()
    repository.store_frame(session, run.id, parts)
    bulk.insert_frame(
        session,
        ResidentScore.__table__,
        frame.select(pl.lit(run.id, dtype=pl.Int64).alias("run_id"), KEY, "total"),
    )
    session.flush()
    audit.record(
        session,
        actor,
        action,
        "scoring_run",
        run.id,
        after=audit.row_state(run),
        detail={"policy": policy.id, "version": policy.version, "as_of": as_of, **(detail or {})},
    )
    return RunRead.model_validate(run)


def get_run(actor: Actor, session: Session, run_id: int) -> RunRead:
    run = repository.run_by_id(session, actor, run_id)
    if run is None:
        raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    return RunRead.model_validate(run)


def run_totals(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """resident_id and total of everyone in a run, for staff (a ranking to publish)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    return repository.totals_frame(session, get_run(actor, session, run_id).id)


def list_runs(actor: Actor, session: Session) -> list[RunRead]:
    """Scoring runs, newest first, for staff (a town's staff: the runs that scored residents
    of their town); never for the public (401) nor for residents (403: their own score and
    its run come with ``resident_score``)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.REVIEWER, Role.TOWN_STAFF)
    return [RunRead.model_validate(run) for run in repository.list_runs(session, actor)]


def score_history(actor: Actor, session: Session, resident_id: int) -> list[ScoreOfRun]:
    """Every scoring run that scored a resident in the actor's scope, with their total,
    newest first (the explanation of one: ``resident_score``)."""
    if not registry_service.resident_exists(actor, session, resident_id):
        raise NotFound(f"没有居民 {resident_id}", f"no resident {resident_id}")
    return [
        ScoreOfRun(run=RunRead.model_validate(run), total=total)
        for run, total in repository.scores_of(session, actor, resident_id)
    ]


def input_labels(actor: Actor, session: Session, run_id: int) -> dict[str, tuple[str, str]]:
    """(zh, en) of each input the run's policy labels, for showing an explanation's inputs
    in words."""
    run = repository.run_by_id(session, actor, run_id)
    if run is None:
        raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    policy = compiled_from_text(run.policy_text, f"scoring run {run.id}").policy
    return {
        name: (spec.label.zh, spec.label.en)
        for name, spec in policy.inputs.items()
        if spec.label is not None
    }


def _not_scored(resident_id: int, run_id: int, as_of: date, span: Mapping[str, object]) -> NotFound:
    """A resident absent from run ``run_id``, with their permit on its date (``span``; the
    only reason a resident is left out of a run: no valid permit, docs/policy.md)."""
    return NotFound(
        f"居民 {resident_id} 未在最新的计分批次 {run_id}（计分日 {as_of}）中计分：{span['reason_zh']}",
        f"resident {resident_id} was not scored in the newest scoring run {run_id} "
        f"(as of {as_of}): {span['reason_en']}",
    )


def resident_score(
    actor: Actor, session: Session, resident_id: int, run_id: int | None = None
) -> ResidentScoreRead:
    """A stored score and its explanation, recomputed from the stored policy text and inputs
    (and checked against the stored total: an explanation never disagrees with a score)."""
    if not registry_service.resident_exists(actor, session, resident_id):
        raise NotFound(f"没有居民 {resident_id}", f"no resident {resident_id}")
    if run_id is None:
        run = repository.latest_run_with(session, actor, resident_id)
        # The newest score is the newest run's: a resident left out of a later run (a
        # permit cancelled or suspended since) is told so and why, not shown an older total.
        newer = repository.newest_run_after(session, run.id if run else 0)
        if newer is not None:
            span = registry_service.residence_span(actor, session, resident_id, newer[1])
            # Valid then, yet not in it: registered (or the permit sent) after that run was
            # made; the score they have, if any, is still their newest.
            if span["permit_state"] != PermitState.VALID:
                raise _not_scored(resident_id, *newer, span)
        if run is None:
            raise NotFound(
                f"居民 {resident_id} 还没有积分", f"resident {resident_id} has not been scored"
            )
    else:
        run = repository.run_by_id(session, actor, run_id)
        if run is None:
            raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    stored = repository.score_of(session, actor, run.id, resident_id)
    if stored is None:
        span = registry_service.residence_span(actor, session, resident_id, run.as_of)
        raise NotFound(
            f"计分批次 {run.id} 中没有居民 {resident_id}（计分日 {run.as_of}：{span['reason_zh']}）",
            f"resident {resident_id} is not in scoring run {run.id} "
            f"(as of {run.as_of}: {span['reason_en']})",
        )
    compiled = compiled_from_text(run.policy_text, f"scoring run {run.id}")
    mine = _resident_row(session, run.id, resident_id)
    if mine.height != 1:
        raise RuntimeError(f"resident {resident_id} is missing from the frame of run {run.id}")
    typed = frames.typed_inputs(mine)
    explanation = explain(compiled, typed, resident_id, run.as_of).as_dict()
    if abs(explanation["total"] - stored.total) > 1e-9:
        raise RuntimeError(f"stored total of resident {resident_id} in run {run.id} differs")
    sources = facts_service.line_sources(
        actor,
        session,
        resident_id,
        catalog.fact_variables(),
        {name: source for name, (source, _) in DERIVED_FACT_INPUTS.items()},
        run.as_of,
        run.created_at,
    )
    # The permit time line as the registry reads it now: the span and why it starts there.
    span = registry_service.residence_span(actor, session, resident_id, run.as_of)
    stored_start = typed.row(0, named=True).get("residence_registration_date")
    if stored_start is not None and str(stored_start) != str(span["span_start"]):
        # A permit re-sent since (a cancellation, a late endorsement) changes the span the
        # registry reads now; the run keeps what it read then, and says the two differ.
        span |= {
            "changed_since_run": True,
            "note_zh": f"本批次计分时居住登记起算日为 {stored_start}，登记库此后已变更",
            "note_en": f"this run read {stored_start} as the span's start; the registry has "
            "changed since",
        }
    for line in explanation["lines"]:
        # Where each input of the line came from: a department's batch and row, or the
        # registry (居民登记、居住证、就业登记).
        line["sources"] = {
            name: [
                {"registry": REGISTRY_INPUTS[name]}
                | ({"span": span} if name in registry_service.TIMELINE_INPUTS else {})
            ]
            if name in REGISTRY_INPUTS
            else sources.get(name, [])
            for name in line["inputs"]
        }
        for name in PERSONAL_INPUTS:
            if name in line["inputs"]:
                line["inputs"][name] = "****-**-**"
    return ResidentScoreRead(
        resident_id=resident_id,
        run=RunRead.model_validate(run),
        total=stored.total,
        points=frames.points_of(mine).drop(KEY, "total").row(0, named=True),
        explanation=explanation,
    )


def _resident_row(session: Session, run_id: int, resident_id: int) -> pl.DataFrame:
    """One resident's row of the run's stored frame: the one part that holds them (checked
    against its digest), of which only the row group that holds them is decoded."""
    return frames.from_parts(
        repository.frame_parts(session, run_id, resident_id, resident_id),
        f"scoring run {run_id}",
        keep=pl.Series(KEY, [resident_id], dtype=pl.Int64),
    )


@dataclass(frozen=True)
class StoredScores:
    run: RunRead
    compiled: CompiledPolicy
    frame: pl.DataFrame
    """resident_id, points and the run's typed inputs, for the residents asked about who were
    scored in that run."""


def stored_scores(
    actor: Actor,
    session: Session,
    resident_ids: list[int],
    run_id: int | None = None,
    policy_id: str | None = None,
) -> StoredScores:
    """Scores and inputs as stored in a run (the given one, or the latest of ``policy_id``)."""
    if run_id is not None:
        run = repository.run_by_id(session, actor, run_id)
        if run is None:
            raise NotFound(f"没有计分批次 {run_id}", f"no scoring run {run_id}")
    else:
        run = repository.latest_run_of_policy(session, actor, policy_id or "")
        if run is None:
            raise NotFound(
                f"策略 {policy_id} 还没有计分批次，请先运行 luodi score",
                f"policy {policy_id} has no scoring run yet: run luodi score first",
            )
    compiled = compiled_from_text(run.policy_text, f"scoring run {run.id}")
    scored = repository.scored_ids(session, actor, run.id, resident_ids)
    names = list(compiled.policy.inputs)
    wanted = pl.Series(KEY, scored, dtype=pl.Int64)
    where = f"scoring run {run.id}"
    # Only the parts that hold someone asked about, only the columns read here (not the
    # points struct), only their rows kept: an allocation's parents are spread over every
    # id, and decoding is most of the time.
    columns = [KEY, "total", frames.INPUTS]
    if len(scored) == 1:
        # One resident (their pages): the part that holds them, found in SQL.
        parts = repository.frame_parts(session, run.id, scored[0], scored[0])
    elif scored:
        numbers = frames.parts_holding(repository.frame_part_ranges(session, run.id), wanted)
        parts = repository.frame_parts(session, run.id, numbers=numbers)
    else:  # nobody: the first part gives the columns and their types
        parts = repository.frame_parts(session, run.id, limit=1)
    stored = frames.from_parts(parts, where, columns, wanted)
    frame = (
        stored.select(KEY, pl.col("total").alias("points"), frames.INPUTS)
        .unnest(frames.INPUTS)
        .select(KEY, "points", *names)
    )
    return StoredScores(RunRead.model_validate(run), compiled, frame)


@dataclass(frozen=True)
class WhatIf:
    """One input as a scoring run used it, and the total with another value in its place."""

    name: str
    recorded: object
    total: float
    total_with: float


def what_if(
    actor: Actor,
    session: Session,
    resident_id: int,
    policy_id: str,
    values: Mapping[str, object],
) -> list[WhatIf]:
    """For each policy input named in ``values`` whose value differs from the one the latest
    run of ``policy_id`` used for the resident: that value, the resident's total, and the
    total the policy gives with ``values[name]`` instead (each input alone: the points that
    difference changes). Empty when the resident was not scored in it."""
    stored = stored_scores(actor, session, [resident_id], policy_id=policy_id)
    mine = stored.frame.filter(pl.col(KEY) == resident_id)
    if mine.height != 1:
        return []
    typed = mine.drop("points")
    as_of = stored.run.as_of
    total = float(explain(stored.compiled, typed, resident_id, as_of).as_dict()["total"])
    found = []
    for name, value in values.items():
        if name not in typed.columns or name == KEY:
            continue
        recorded = typed[name][0]
        changed = typed.with_columns(pl.lit(value).cast(typed.schema[name]).alias(name))
        if changed[name][0] == recorded:
            continue
        after = explain(stored.compiled, changed, resident_id, as_of).as_dict()["total"]
        found.append(WhatIf(name, recorded, total, float(after)))
    return found


DISTRIBUTION_WIDTH = 20.0
"""Points per bar of a run's distribution (``luodi score`` prints the same bars)."""


@dataclass(frozen=True)
class TownScores:
    code: str
    name: str
    residents: int
    mean: float
    median: float
    highest: float


@dataclass(frozen=True)
class Distribution:
    run: RunRead
    width: float
    bins: list[tuple[float, int]]
    """(lowest total of the bar, residents), every bar from the lowest total to the highest,
    empty ones too (a histogram without gaps)."""
    towns: list[TownScores]
    """Per town of residence (as the registry has it now, as a score ranking's notice
    shows it), by code."""
    quantiles: dict[str, float]
    """P10, median, P90 and the highest total ("nearest", as ``luodi score`` prints)."""


def run_distribution(
    actor: Actor, session: Session, run_id: int, width: float = DISTRIBUTION_WIDTH
) -> Distribution:
    """How a run's totals are spread: bars of ``width`` points and the totals by town."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    run = get_run(actor, session, run_id)
    counts = repository.total_counts(session, actor, run.id)
    # One row per resident again (a few columns, in memory): the quantiles are then those
    # ``luodi score`` prints from the stored totals.
    totals = counts.select(
        pl.col("town_code").repeat_by("residents").explode(),
        pl.col("total").repeat_by("residents").explode(),
    )
    towns = {town.code: town.name for town in registry_service.list_towns(actor, session)}
    bars = dict(
        totals.group_by((pl.col("total") // width * width).alias("start")).len().iter_rows()
    )
    bins: list[tuple[float, int]] = []
    if bars:
        start = min(bars)
        while start <= max(bars):
            bins.append((start, int(bars.get(start, 0))))
            start += width
    by_town = (
        totals.group_by("town_code")
        .agg(
            pl.len().alias("residents"),
            pl.col("total").mean().alias("mean"),
            pl.col("total").median().alias("median"),
            pl.col("total").max().alias("highest"),
        )
        .sort("town_code", nulls_last=True)
    )
    column = totals.get_column("total")
    quantiles = (
        {
            "p10": float(column.quantile(0.1, "nearest") or 0.0),
            "median": float(column.quantile(0.5, "nearest") or 0.0),
            "p90": float(column.quantile(0.9, "nearest") or 0.0),
            "highest": float(column.max() or 0.0),  # type: ignore[arg-type]
        }
        if totals.height
        else {}
    )
    return Distribution(
        run,
        width,
        bins,
        [
            TownScores(
                code or "",
                towns.get(code or "", code or ""),
                residents,
                mean,
                median,
                highest,
            )
            for code, residents, mean, median, highest in by_town.iter_rows()
        ],
        quantiles,
    )
