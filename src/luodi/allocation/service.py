"""Allocation of a program cycle: the applicants' frame (who counts, with stored points and
the program's rules evaluated), the decision (``kernels.allocation.programs``), immutable runs
and their results, and the differences between runs.

The caller commits (transactions at the edge).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.allocation import repository
from luodi.allocation.models import AllocationResult, AllocationRun, Outcome
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Conflict, Invalid, NotFound
from luodi.kernels.allocation import Method
from luodi.kernels.allocation.programs import (
    Kind,
    Label,
    ProgramRules,
    RentSubsidy,
    SchoolRules,
    decide,
)
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.kernels.policy import KEY
from luodi.kernels.policy.expressions import ValueType
from luodi.programs import context, rules, targets, towns
from luodi.programs import repository as programs_repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, CycleStatus, ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.scoring import service as scoring_service

RANKABLE = (
    ApplicationStatus.VERIFIED,
    ApplicationStatus.PLACED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.UNPLACED,
)
"""Applications a run ranks: verified ones, and on a re-run those an earlier run decided."""

RESULT_SCHEMA = {
    "application_id": pl.Int64,
    "resident_id": pl.Int64,
    "child_id": pl.Int64,
    "outcome": pl.String,
    "target_id": pl.String,
    "unit": pl.String,
    "choice_rank": pl.Int64,
    "town_placement": pl.Boolean,
    "placement": pl.String,
    "points": pl.Float64,
    "priority_group": pl.Int64,
    "rank": pl.Int64,
    "lottery": pl.String,
    "entitlement": pl.Float64,
    "granted_for": pl.String,
    "rate": pl.Float64,
    "term_months": pl.Int64,
    "reason_zh": pl.String,
    "reason_en": pl.String,
    "points_resident_id": pl.Int64,
}
"""A run's results as stored, with who each application is for (ids only)."""

NOT_SCORED = (
    "不在所用计分批次中（没有有效居住证）",
    "not in the scoring run used (no valid residence permit)",
)
"""Why an application none of whose persons was scored is not eligible (``decide_rules``)."""

APPLICATION_SCHEMA = list(repository.APPLICATION_SCHEMA)
"""The columns of an application ``applicant_frame`` reads."""

Progress = Callable[[str, int, int], None]
"""(phase, done, total): an allocation reports its steps (``ALLOCATION_STEPS``), each phase
naming its count (a job's progress bar, ``luodi.jobs``)."""
ALLOCATION_STEPS = 3

STATUS_OF_OUTCOME = {
    Outcome.PLACED: ApplicationStatus.PLACED,
    Outcome.WAITLISTED: ApplicationStatus.WAITLISTED,
    Outcome.UNPLACED: ApplicationStatus.UNPLACED,
    Outcome.INELIGIBLE: ApplicationStatus.UNPLACED,
    # The subsidy is the household's housing benefit (住房保障): served, not waiting.
    Outcome.SUBSIDY: ApplicationStatus.PLACED,
}


def applicant_frame(
    actor: Actor,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    run_id: int | None,
    application_id: int | None = None,
    applications: pl.DataFrame | None = None,
    scores: scoring_service.StoredScores | None = None,
) -> tuple[pl.DataFrame, scoring_service.StoredScores]:
    """One row per (application, person whose points count): the child's parents for a
    school place, else the applicant; with that person's stored points and inputs. Every
    rankable application of the cycle, or the one ``application_id`` (whatever its state:
    the verification screen), or ``applications`` as given (``repository.cycle_applications``'
    columns, in the order filed: the entitlement finder's applications a resident has not
    made, decided by the same code as the cycle's); ``scores``: the latest run of the
    program's policy as already read for every person of them (the finder reads it once for
    all its programs)."""
    given = applications is not None
    if applications is None:
        applications = repository.cycle_applications(session, cycle.id, RANKABLE, application_id)
    # Only the people of the cycle's applications (and for a school place their
    # households): never the whole registry.
    frame = (
        applications.select(APPLICATION_SCHEMA)
        .with_row_index(rules.ORDER, offset=1)
        .with_columns(pl.col(rules.ORDER).cast(pl.Int64))
    )
    # Only what the rules read of the applicant's context is read and computed (the
    # shipped programs read none of it); the kernel reads the household's size of housing.
    words_read = rules.names_read(spec) | (
        {"household_size"} if spec.kind is ProgramKind.PUBLIC_HOUSING else set()
    )
    applicant_ids = frame["applicant"].unique().to_list()
    school = spec.kind is ProgramKind.SCHOOL_ADMISSION
    family: context.Families | None = None
    if context.reads(words_read)[0] or school:
        # The registry's families of the applicants and children, read once: the
        # applicants' town and household and their households' members come from it, and
        # the context reuses it (it is the same for the members as for the applicants).
        family = context.families(
            actor, session, applicant_ids, frame["child_id"].drop_nulls().unique().to_list()
        )
        members = family.members.select(KEY, "household_id", "town_code")
    else:
        members = repository.people(session, actor, applicant_ids)
    frame = frame.join(
        members.filter(pl.col(KEY).is_in(applicant_ids)).select(
            pl.col(KEY).alias("applicant"), pl.col("town_code").alias("home_town"), "household_id"
        ),
        on="applicant",
        how="left",
    )
    households = frame["household_id"].drop_nulls().to_list()
    if spec.kind is ProgramKind.PUBLIC_HOUSING:
        sizes = repository.household_sizes(session, actor, households)
        frame = frame.join(sizes, on="household_id", how="left")
        # A resident registered without a household lives alone.
        frame = frame.with_columns(pl.col("household_size").fill_null(1))
    else:
        frame = frame.with_columns(household_size=pl.lit(None, dtype=pl.Int64))
    if school:
        assert family is not None
        # A child's points are its parents' (or guardians'): the two the children feed names,
        # the registering one first, never another adult of the household. A child whose
        # parents are not on record counts its applicant (intake takes only a parent's).
        parents = (
            family.children.select(
                "child_id", pl.concat_list("parent_id", "second_parent_id").alias(KEY)
            )
            .explode(KEY)
            .drop_nulls(KEY)
        )
        persons = frame.join(parents, on="child_id", how="left", maintain_order="left")
        persons = persons.with_columns(pl.col(KEY).fill_null(pl.col("applicant")))
        persons = persons.with_columns(pl.lit(cycle.entry_grade, pl.Int64).alias(rules.ENTRY_GRADE))
    else:
        persons = frame.with_columns(pl.col("applicant").alias(KEY))
    if scores is None or run_id is not None or scores.run.policy_id != spec.policy:
        scores = scoring_service.stored_scores(
            actor, session, persons[KEY].unique().to_list(), run_id=run_id, policy_id=spec.policy
        )
    persons = persons.join(scores.frame, on=KEY, how="left")
    if spec.fields:
        schema = {name: rules.field_dtype(spec, name) for name in spec.fields}
        persons = persons.with_columns(
            pl.col("fields").str.json_decode(pl.Struct(schema)).alias("fields")
        ).unnest("fields")
    # What the rules may say of the person, the household, the spouse, the child's two
    # parents and the employer, as of the cycle's date (programs/context.py); fields win.
    persons = context.add_context(
        actor,
        session,
        persons,
        cycle.as_of,
        {name: item.type for name, item in scores.compiled.policy.inputs.items()},
        lambda ids: scoring_service.stored_scores(actor, session, ids, run_id=scores.run.id).frame,
        keep=spec.fields,
        known=scores.frame,
        family=family,
        words_read=words_read,
        # Once per person per value (the education subsidy's level): what was granted before.
        granted=repository.earlier_grants(session, cycle, applicant_ids if given else None)
        if spec.once_per
        else None,
    )
    return persons, scores


def application_rules(
    actor: Actor, session: Session, cycle: ProgramCycle, application_id: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The program's rules for one application as an allocation would decide them now (the
    latest scoring run of its policy): the persons' evaluated rows (a child: its parents)
    and the application's row (``rules.by_application``: ``rule:<id>``, ``eligible``)."""
    spec = cycle_spec(cycle)
    persons, scores = applicant_frame(actor, session, cycle, spec, None, application_id)
    return decide_rules(spec, input_types(scores), persons, cycle.as_of)


def input_types(scores: scoring_service.StoredScores) -> dict[str, ValueType]:
    """The scoring policy's inputs, typed as the run stores them (the rules' scope)."""
    return {name: item.type for name, item in scores.compiled.policy.inputs.items()}


def decide_rules(
    spec: ProgramSpec,
    types: Mapping[str, ValueType],
    persons: pl.DataFrame,
    as_of: date,
    key: str = "application_id",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The program's rules on ``applicant_frame``'s rows, as an allocation decides them: the
    persons' evaluated rows (``rules.evaluate``) and one row per application
    (``rules.by_application``, by ``key``); ``types``: the policy's inputs
    (``input_types``). A person not in the scoring run counts for nothing but an
    entitlement (no points matter there): an application none of whose persons was scored has
    no row (``NOT_SCORED`` says why)."""
    # An entitlement is no points matter: a child is decided by its parents' facts whether
    # or not the parent who registered it was scored (the rules name what counts).
    scored = (
        persons
        if spec.kind is ProgramKind.ENTITLEMENT
        else persons.filter(pl.col("points").is_not_null())
    )
    evaluated = rules.evaluate(spec, types, scored, as_of)
    # Per application (a child: its two parents): each condition met by either person, the
    # higher points, the tie-break values of the person whose points are used.
    return evaluated, rules.by_application(spec, evaluated, key)


def allocate_cycle(
    actor: Actor,
    session: Session,
    cycle_id: int,
    seed: str,
    scoring_run_id: int | None = None,
    progress: Progress | None = None,
) -> AllocationRun:
    return allocate(actor, session, cycle_id, seed, scoring_run_id, progress)[0]


def allocate(
    actor: Actor,
    session: Session,
    cycle_id: int,
    seed: str,
    scoring_run_id: int | None = None,
    progress: Progress | None = None,
) -> tuple[AllocationRun, pl.DataFrame]:
    """A new run of the cycle (``allocate_cycle``), and its results as stored
    (``RESULT_SCHEMA``, by application id: what ``_stored_results`` reads back)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    say = progress or (lambda _phase, _done, _total: None)
    cycle = programs_repository.writable_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 结果已确定，不能再分配", f"cycle {cycle.id} is final")
    if not seed.strip():
        raise Invalid.field("seed", seed, "需要公开的摇号种子", "a published seed is needed")
    say("读取申请与积分 / reading applications and points", 0, ALLOCATION_STEPS)
    persons, scores = applicant_frame(actor, session, cycle, spec, scoring_run_id)
    if persons.height == 0:
        raise Invalid(
            f"周期 {cycle.id} 没有已审核的申请", f"cycle {cycle.id} has no verified application"
        )
    rules.check_rules(spec, input_types(scores), scores.run.policy_id)
    best = decide_rules(spec, input_types(scores), persons, cycle.as_of)[1]
    missing = persons.filter(~pl.col("application_id").is_in(best["application_id"].implode()))
    missing = missing.unique("application_id").select("application_id", rules.ORDER)
    applicants = best.sort(rules.ORDER)
    target_frame = targets.target_frame(session, cycle.id)
    refused = _with_refusals(spec, applicants)
    if spec.kind is ProgramKind.PUBLIC_HOUSING:
        refused = one_per_household(refused)
    distances = towns.program_distances(spec)
    say(
        f"排序与分配 {refused.height:,} 份申请 / ranking and allocating {refused.height:,}",
        1,
        ALLOCATION_STEPS,
    )
    outcome = decide(decision_rules(spec), refused, target_frame, seed, distances)
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        outcome = outcome.join(
            applicants.select("application_id", points_resident_id="points_person"),
            on="application_id",
            how="left",
        )
    if spec.once_per is not None:
        # What each grant is for, kept with it: a later cycle does not grant it again.
        outcome = outcome.join(
            applicants.select(
                "application_id", pl.col(spec.once_per).cast(pl.String).alias("granted_for")
            ),
            on="application_id",
            how="left",
        ).with_columns(
            granted_for=pl.when(pl.col("outcome") == Outcome.PLACED.value).then("granted_for")
        )
    outcome = pl.concat(
        [
            outcome,
            missing.select(
                "application_id",
                outcome=pl.lit(Outcome.INELIGIBLE.value),
                reason_zh=pl.lit(NOT_SCORED[0]),
                reason_en=pl.lit(NOT_SCORED[1]),
            ),
        ],
        how="diagonal_relaxed",
    )
    digest = hashlib.sha256()
    digest.update(cycle.program_digest.encode())
    digest.update(f"|{scores.run.id}|{scores.run.policy_digest}|{seed}|".encode())
    digest.update(target_frame.write_csv().encode())
    if distances is not None:
        digest.update(distances.write_csv().encode())
    digest.update(
        applicants.select(
            "application_id",
            "points",
            "eligible",
            "priority_group",
            "choices",
            *[column for column in applicants.columns if column.startswith("tie:")],
        )
        .write_csv()
        .encode()
    )
    previous = session.scalars(
        select(AllocationRun)
        .where(AllocationRun.cycle_id == cycle.id)
        .order_by(AllocationRun.id.desc())
        .limit(1)
    ).one_or_none()
    counts = outcome.group_by("outcome").len()
    summary = {
        "applications": outcome.height,
        **{row[0]: row[1] for row in counts.iter_rows()},
        "seats": int(target_frame["capacity"].sum() or 0),
        # 100% 入学: eligible children meeting a school's rule left without a seat.
        "no_seat": int(outcome["no_seat"].fill_null(False).sum())
        if "no_seat" in outcome.columns
        else 0,
        "entitlement_total": float(outcome["entitlement"].sum() or 0)
        if "entitlement" in outcome.columns
        else 0.0,
    }
    if spec.cost_shares:
        summary["cost_shares"] = cost_shares(spec, outcome, applicants)
    say(f"保存 {outcome.height:,} 条结果 / storing {outcome.height:,} results", 2, ALLOCATION_STEPS)
    run = AllocationRun(
        cycle_id=cycle.id,
        previous_run_id=previous.id if previous else None,
        scoring_run_id=scores.run.id,
        method=(
            spec.mechanism.value
            if spec.mechanism
            else "entitlement"
            if spec.kind is ProgramKind.ENTITLEMENT
            else "tiers"
        ),
        seed=seed,
        inputs_digest=digest.hexdigest(),
        summary=json.dumps(summary, ensure_ascii=False),
        created_by=actor.username,
    )
    session.add(run)
    session.flush()
    columns = [column.name for column in AllocationResult.__table__.columns]
    stored = outcome.with_columns(run_id=pl.lit(run.id, dtype=pl.Int64))
    for column in columns:
        if column not in stored.columns:
            stored = stored.with_columns(pl.lit(None).alias(column))
    stored = stored.with_columns(
        pl.col("lottery").cast(pl.String).fill_null(""),
        pl.col("town_placement").fill_null(False).cast(pl.Boolean),
    )
    stored = stored.select(columns)
    bulk.insert_frame(session, AllocationResult.__table__, stored)
    # The rows as stored, from memory: reading 38,560 results back (floats as Python tuples
    # on SQLite) cost more than writing them; tests check the two are the same.
    who = persons.select(
        "application_id", pl.col("applicant").alias("resident_id"), "child_id"
    ).unique("application_id")
    results = (
        stored.join(who, on="application_id", how="left")
        .select([pl.col(name).cast(dtype) for name, dtype in RESULT_SCHEMA.items()])
        .sort("application_id")
    )
    for decided, status in STATUS_OF_OUTCOME.items():
        ids = outcome.filter(pl.col("outcome") == decided.value)["application_id"].to_list()
        if ids:
            session.execute(
                update(Application)
                .where(bulk.among(session, Application.id, ids))
                .values(status=status)
                .execution_options(synchronize_session=False)
            )
    cycle.status = CycleStatus.ALLOCATED
    session.flush()
    audit.record(
        session,
        actor,
        "allocation.run",
        "allocation_run",
        run.id,
        after={**audit.row_state(run), "results": _digest_of_results(results)},
        detail={"cycle": cycle.id, "seed": seed},
    )
    return run, results


def cost_shares(
    spec: ProgramSpec, outcome: pl.DataFrame, applicants: pl.DataFrame
) -> list[dict[str, object]]:
    """Each payer's share of the places given (``cost_shares``): the fraction as written,
    the places it covers and what that share of them comes to (``places × share``, in places;
    a report multiplies by the cost of one). A share paid ``by`` a word is split by its value
    among the places given (each town union pays a third of its own employers' places)."""
    placed = outcome.filter(pl.col("outcome") == Outcome.PLACED.value).select("application_id")
    rows: list[dict[str, object]] = []
    for share in spec.cost_shares:
        fraction = share.fraction
        base = {"payer": share.payer.zh, "payer_en": share.payer.en, "share": share.share}
        if share.by is None:
            groups = [(None, placed.height)]
        else:
            counted = (
                placed.join(applicants.select("application_id", share.by), on="application_id")
                .group_by(share.by)
                .len()
                .sort(share.by, nulls_last=True)
            )
            groups = [(value, count) for value, count in counted.iter_rows()]
        for value, count in groups:
            row: dict[str, object] = {**base}
            if share.by is not None:
                row[share.by] = value
            row["places"] = count
            row["places_paid"] = round(float(fraction * count), 4)
            rows.append(row)
    return rows


def decision_rules(spec: ProgramSpec) -> ProgramRules:
    """What the decision kernel needs of a program."""
    school = None
    if spec.school is not None:
        full, current = spec.school.full_year_rule.label, spec.school.current_rule.label
        school = SchoolRules(
            full_year=Label(full.zh, full.en or full.zh),
            current=Label(current.zh, current.en or current.zh),
            town_placement=spec.school.town_placement,
            home_town_first=spec.school.home_town_first,
            direct_groups=frozenset(group.group for group in spec.groups if group.direct),
        )
    return ProgramRules(
        kind=Kind(spec.kind.value),
        method=spec.mechanism or Method.RANKED_QUOTA,
        tie_breaks=tuple(rules.tie_break_columns(spec)),
        school=school,
        household_layouts=spec.household_layouts,
        rent_subsidy=RentSubsidy(
            spec.rent_subsidy.amount,
            frozenset(spec.rent_subsidy.groups) if spec.rent_subsidy.groups else None,
        )
        if spec.rent_subsidy
        else None,
    )


SECOND_OF_HOUSEHOLD = (
    "同户已有申请参加配租（一户限配租一套）",
    "another application of the household takes part (one flat per household)",
)


def one_per_household(applicants: pl.DataFrame) -> pl.DataFrame:
    """At most one flat per household (住建部令第11号 judges the household): of a household's
    eligible applications only the first filed (``application_order``) is decided, the
    others are refused with ``SECOND_OF_HOUSEHOLD``. Intake takes one application per
    household; this holds whatever slipped past it (two filed before a member moved in, a
    waiting list carried from an older cycle)."""
    first = (
        applicants.filter(pl.col("eligible") & pl.col("household_id").is_not_null())
        .sort(rules.ORDER)
        .unique("household_id", keep="first", maintain_order=True)["application_id"]
    )
    second = (
        pl.col("eligible")
        & pl.col("household_id").is_not_null()
        & ~pl.col("application_id").is_in(first.implode())
    )
    zh, en = SECOND_OF_HOUSEHOLD
    return applicants.with_columns(
        reason_zh=pl.when(second).then(pl.lit(zh)).otherwise(pl.col("reason_zh")),
        reason_en=pl.when(second).then(pl.lit(en)).otherwise(pl.col("reason_en")),
        eligible=pl.col("eligible") & ~second,
    )


def _with_refusals(spec: ProgramSpec, applicants: pl.DataFrame) -> pl.DataFrame:
    """``reason_zh``/``reason_en``: the eligibility rules a refused application fails."""
    refused = applicants.filter(~pl.col("eligible"))
    # Only the rule columns go through Python: a row of the applicants' frame has every
    # context word and policy input (dozens of columns), and the rules read none of them.
    rule_columns = [f"rule:{rule.id}" for rule in spec.eligibility]
    reasons = [
        rules.failed_rules(spec, row) for row in refused.select(rule_columns).iter_rows(named=True)
    ]
    return applicants.join(
        refused.select(
            "application_id",
            reason_zh=pl.Series([zh for zh, _ in reasons], dtype=pl.String),
            reason_en=pl.Series([en for _, en in reasons], dtype=pl.String),
        ),
        on="application_id",
        how="left",
    )


# --- results ------------------------------------------------------------------------------


def _results_digest(session: Session, run_id: int) -> str | None:
    """The digest of a run's results as stored (the audit record of the run carries it)."""
    return _digest_of_results(_stored_results(session, run_id))


def _digest_of_results(results: pl.DataFrame) -> str | None:
    return audit.digest({"rows": results.drop("resident_id", "child_id").rows()})


def get_run(actor: Actor, session: Session, run_id: int) -> AllocationRun:
    """A run, for the cycle's department and the service centre (the public and the towns
    read published runs through their notice)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR)
    statement = repository.readable_runs(actor).where(AllocationRun.id == run_id)
    return programs_repository.one(
        session, statement, f"没有分配批次 {run_id}", f"no allocation run {run_id}"
    )


def latest_run(actor: Actor, session: Session, cycle_id: int) -> AllocationRun:
    run = session.scalars(
        repository.readable_runs(actor)
        .where(AllocationRun.cycle_id == cycle_id)
        .order_by(AllocationRun.id.desc())
        .limit(1)
    ).one_or_none()
    if run is None:
        raise NotFound(f"周期 {cycle_id} 还没有分配", f"cycle {cycle_id} has not been allocated")
    return run


def final_run(session: Session, cycle_id: int) -> AllocationRun | None:
    return session.scalars(
        select(AllocationRun).where(AllocationRun.cycle_id == cycle_id, AllocationRun.final)
    ).one_or_none()


def _stored_results(
    session: Session,
    run_id: int,
    application_ids: list[int] | None = None,
    outcome: Outcome | None = None,
) -> pl.DataFrame:
    """A run's results as stored, with who each application is for (ids only); of these
    applications, or of this outcome, only when given."""
    statement = (
        select(
            AllocationResult.application_id,
            Application.resident_id,
            Application.child_id,
            AllocationResult.outcome,
            AllocationResult.target_id,
            AllocationResult.unit,
            AllocationResult.choice_rank,
            AllocationResult.town_placement,
            AllocationResult.placement,
            AllocationResult.points,
            AllocationResult.priority_group,
            AllocationResult.rank,
            AllocationResult.lottery,
            AllocationResult.entitlement,
            AllocationResult.granted_for,
            AllocationResult.rate,
            AllocationResult.term_months,
            AllocationResult.reason_zh,
            AllocationResult.reason_en,
            AllocationResult.points_resident_id,
        )
        .join(Application, Application.id == AllocationResult.application_id)
        .where(AllocationResult.run_id == run_id)
        .order_by(AllocationResult.application_id)
    )
    if outcome is not None:
        statement = statement.where(AllocationResult.outcome == outcome.value)
    if application_ids is not None:
        statement = statement.where(
            bulk.among(session, AllocationResult.application_id, application_ids)
        )
    return bulk.read_frame(session, statement, RESULT_SCHEMA)


def _with_people(actor: Actor, session: Session, frame: pl.DataFrame, masked: bool) -> pl.DataFrame:
    """Names and ID numbers of the applicant and the child (masked for anything public)."""
    whose_points = "points_resident_id" in frame.columns
    ids = frame[KEY].drop_nulls().to_list()
    if whose_points:
        ids += frame["points_resident_id"].drop_nulls().to_list()
    people, children = repository.names(
        session, actor, ids, frame["child_id"].drop_nulls().to_list()
    )
    frame = frame.join(people, on=KEY, how="left").join(children, on="child_id", how="left")
    if whose_points:
        # The parent whose points a child ranked with (a name only: never their ID number).
        frame = frame.join(
            people.select(pl.col(KEY).alias("points_resident_id"), points_name="name"),
            on="points_resident_id",
            how="left",
        )
    if masked:
        frame = frame.with_columns(
            pl.col("id_number").map_elements(mask_id_number, return_dtype=pl.String),
            pl.col("name").map_elements(mask_name, return_dtype=pl.String),
            pl.col("child_id_number").map_elements(mask_id_number, return_dtype=pl.String),
            pl.col("child_name").map_elements(mask_name, return_dtype=pl.String),
            *(
                [pl.col("points_name").map_elements(mask_name, return_dtype=pl.String)]
                if whose_points
                else []
            ),
        )
    return frame


def run_results(
    actor: Actor,
    session: Session,
    run_id: int,
    masked: bool = True,
    results: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every application's outcome in a run, with who it is for (masked unless asked not
    to: this is the list published for the notice period). ``results``: rows of the run
    already in hand (``allocate``'s, or some of them), named instead of reading the run's."""
    run = get_run(actor, session, run_id)
    names = {t.target_id: t.name for t in targets.cycle_targets(session, run.cycle_id)}
    stored = _stored_results(session, run.id) if results is None else results
    frame = stored.with_columns(target_name=pl.col("target_id").replace_strict(names, default=None))
    return _with_people(actor, session, frame, masked)


def stored_results(
    actor: Actor, session: Session, run_id: int, outcome: Outcome | None = None
) -> pl.DataFrame:
    """A run's results as stored (``RESULT_SCHEMA``: ids, no names), for counting; of one
    ``outcome`` only, when given."""
    run = get_run(actor, session, run_id)
    return _stored_results(session, run.id, outcome=outcome)


def result_tallies(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """``outcome``, ``town_code``, ``town`` (the applicant's), ``results``: a run counted
    in SQL."""
    return repository.result_tallies(session, actor, get_run(actor, session, run_id).id)


def result_count(actor: Actor, session: Session, run_id: int) -> int:
    """How many results (one per application) a run has."""
    return repository.result_count(session, get_run(actor, session, run_id).id)


def run_results_page(
    actor: Actor, session: Session, run_id: int, offset: int, limit: int
) -> tuple[int, pl.DataFrame]:
    """The number of results of a run and one page of them, masked as ``run_results`` (in
    the order of its notice: rank, unranked last); the page is read in SQL, not the run."""
    run = get_run(actor, session, run_id)
    ids = repository.result_page(session, run.id, offset, limit)
    page = _stored_results(session, run.id, ids)
    order = pl.DataFrame({"application_id": ids}, schema={"application_id": pl.Int64})
    page = order.join(page, on="application_id", how="inner", maintain_order="left")
    shown = run_results(actor, session, run.id, masked=True, results=page)
    return repository.result_count(session, run.id), shown


def cycle_runs(
    actor: Actor, session: Session, cycle_id: int
) -> tuple[ProgramCycle, list[AllocationRun]]:
    """A cycle and its runs, newest first, for whoever reads its runs (``get_run``'s roles; a
    reviewer only of the own department's cycles: any other is "not found")."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR)
    cycle = programs_repository.one(
        session,
        repository.readable_cycle_of_runs(actor, cycle_id),
        f"没有申报周期 {cycle_id}",
        f"no program cycle {cycle_id}",
    )
    runs = session.scalars(
        repository.readable_runs(actor)
        .where(AllocationRun.cycle_id == cycle.id)
        .order_by(AllocationRun.id.desc())
    )
    return cycle, list(runs)


def run_diff(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """Applications whose outcome, place or flat differs from the previous run of the cycle
    (an application new in either run counts as changed)."""
    run = get_run(actor, session, run_id)
    if run.previous_run_id is None:
        return pl.DataFrame(schema={"application_id": RESULT_SCHEMA["application_id"]})
    current = _stored_results(session, run.id)
    previous = _stored_results(session, run.previous_run_id)
    keys = ["outcome", "target_id", "unit", "entitlement"]
    joined = previous.select("application_id", KEY, *keys).join(
        current.select("application_id", KEY, *keys),
        on="application_id",
        how="full",
        suffix="_now",
        coalesce=True,
    )
    changed = pl.any_horizontal(pl.col(key).ne_missing(pl.col(f"{key}_now")) for key in keys)
    differences = joined.filter(changed).select(
        "application_id",
        pl.coalesce(f"{KEY}_now", KEY).alias(KEY),
        pl.lit(None, dtype=pl.Int64).alias("child_id"),
        before=pl.concat_str(
            pl.col("outcome").fill_null("—"), pl.col("target_id").fill_null(""), separator=" "
        ),
        after=pl.concat_str(
            pl.col("outcome_now").fill_null("—"),
            pl.col("target_id_now").fill_null(""),
            separator=" ",
        ),
    )
    # Names only for what changed: the registry is read once, not once per run.
    named = _with_people(actor, session, differences, masked=True)
    return named.select("application_id", "name", "before", "after")


def application_results(
    session: Session, cycle_id: int, application_id: int
) -> list[tuple[AllocationRun, AllocationResult]]:
    """Each run of the cycle with its result for one application, oldest run first (the
    results' key: the run, then the application), for the application's own time line —
    the caller has read the application in its scope."""
    runs = session.scalars(
        select(AllocationRun).where(AllocationRun.cycle_id == cycle_id).order_by(AllocationRun.id)
    ).all()
    if not runs:
        return []
    results = {
        result.run_id: result
        for result in session.scalars(
            select(AllocationResult).where(
                AllocationResult.run_id.in_([run.id for run in runs]),
                AllocationResult.application_id == application_id,
            )
        )
    }
    return [(run, results[run.id]) for run in runs if run.id in results]


# --- what-if (a dry run) ------------------------------------------------------------------

WHATIF_STATUSES = (ApplicationStatus.SUBMITTED, *RANKABLE)
"""Applications a what-if decides: the rankable ones and those still waiting to be verified
(the next cycle is often still taking applications; a what-if assumes they pass)."""


def next_school_cycle(actor: Actor, session: Session, policy_id: str) -> ProgramCycle | None:
    """The school-admission cycle a what-if of ``policy_id`` looks at: of the cycles ranking
    by that policy's points and not yet final, the one opened last that has applications."""
    candidates = [
        cycle
        for cycle in session.scalars(
            programs_repository.readable_cycles(actor)
            .where(ProgramCycle.status != CycleStatus.FINAL)
            .order_by(ProgramCycle.opens.desc(), ProgramCycle.id.desc())
        )
        if (spec := cycle_spec(cycle)).kind is ProgramKind.SCHOOL_ADMISSION
        and spec.policy == policy_id
    ]
    for cycle in candidates:
        if not repository.cycle_applications(session, cycle.id, WHATIF_STATUSES).is_empty():
            return cycle
    return None


def whatif_seed(actor: Actor, session: Session, cycle: ProgramCycle) -> str:
    """The seed the cycle's last run drew with, or one named after the cycle: both sides of a
    what-if draw the same lottery numbers."""
    try:
        return latest_run(actor, session, cycle.id).seed
    except NotFound:
        return f"whatif-{cycle.id}"


def dry_run(
    actor: Actor,
    session: Session,
    cycle: ProgramCycle,
    scores: scoring_service.StoredScores,
    seed: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cycle decided as ``allocate`` decides it, with ``scores`` in place of a stored
    scoring run's, storing nothing (no run, no status): (one row per decided application with
    ``town_code``, the family's town; the cycle's targets)."""
    spec = cycle_spec(cycle)
    applications = repository.cycle_applications(session, cycle.id, WHATIF_STATUSES)
    persons, scores = applicant_frame(
        actor, session, cycle, spec, None, applications=applications, scores=scores
    )
    target_frame = targets.target_frame(session, cycle.id)
    if persons.height == 0:
        return pl.DataFrame(), target_frame
    types = input_types(scores)
    rules.check_rules(spec, types, scores.run.policy_id)
    applicants = decide_rules(spec, types, persons, cycle.as_of)[1].sort(rules.ORDER)
    outcome = decide(
        decision_rules(spec),
        _with_refusals(spec, applicants),
        target_frame,
        seed,
        towns.program_distances(spec),
    )
    home = persons.unique("application_id").select(
        "application_id", pl.col("home_town").alias("town_code")
    )
    return outcome.join(home, on="application_id", how="left"), target_frame
