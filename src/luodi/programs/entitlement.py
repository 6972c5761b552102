"""An entitlement's list (资格类待遇，如 0–6 周岁儿童参保): nobody applies and nothing is
allocated. The service centre produces the list from the registry: every registered child in
the program's age range becomes one entry (an application filed by the centre for the child,
in the name of the parent who registered it), verified as it comes from the registry, and a
run decides each eligible (核准) or not, with the rules it fails.

Why the registry and not applications: 慈新服建〔2022〕6号 (二) says such a child "可由监护人…
在居住地为其办理参保手续" — the guardian enrols the child at the 医保 office; the centre's part
is to know which children may be enrolled, every one of them, not only those whose parents
asked (docs/programs.md, "Entitlements").

The caller commits (transactions at the edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationRun
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Conflict, Invalid
from luodi.kernels.calendar import years_before
from luodi.kernels.policy.expressions import DATE, FUNCTIONS
from luodi.programs import repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, CycleStatus
from luodi.programs.spec import ProgramKind
from luodi.registry import repository as registry_repository
from luodi.registry.models import Child

SEED = "entitlement"
"""An entitlement draws no lots; a run still records a seed (this word)."""


@dataclass(frozen=True)
class Enrolment:
    added: int
    """Children newly put on the list."""
    already: int
    """Children already on it (an earlier ``enrol`` of the cycle)."""
    without_parent: int
    """Children in the age range with no registered parent to name (left out: nobody's
    insurance could count for them)."""


def enrol(actor: Actor, session: Session, cycle_id: int) -> Enrolment:
    """Every child of the registry (that ``actor`` reads) aged ``min_age``–``max_age`` on the
    cycle's date onto the cycle's list, once; the entry is in the name of the parent who
    registered the child (the other one when only that one is registered here)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    cycle = repository.writable_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    if spec.kind is not ProgramKind.ENTITLEMENT or spec.entitlement is None:
        raise Invalid.field(
            "cycle",
            cycle_id,
            f"项目 {spec.id} 不是资格类待遇，名单由申请产生",
            f"program {spec.id} is not an entitlement: its list comes from applications",
        )
    # Until the list is final, producing it again adds the children registered since.
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 结果已确定", f"cycle {cycle.id} is final")
    ages = spec.entitlement
    # A superset by date in SQL (one year more), the exact age by the expression language's
    # own years_between (29 February as 民法典 counts it) in Polars.
    born_after = years_before(cycle.as_of, ages.max_age + 2)
    children = bulk.read_frame(
        session,
        select(Child.id, Child.birth_date, Child.parent_id, Child.second_parent_id).where(
            Child.birth_date > born_after,
            Child.birth_date <= cycle.as_of,
            registry_repository.readable_children(actor),
        ),
        {
            "child_id": pl.Int64,
            "birth_date": pl.Date,
            "parent_id": pl.Int64,
            "second_parent_id": pl.Int64,
        },
    )
    age = FUNCTIONS["years_between"].polars(
        [pl.col("birth_date"), pl.lit(cycle.as_of)], [DATE, DATE]
    )
    children = children.filter(age.is_between(ages.min_age, ages.max_age)).sort("child_id")
    applicant = pl.coalesce("parent_id", "second_parent_id")
    without_parent = children.filter(applicant.is_null()).height
    children = children.filter(applicant.is_not_null()).with_columns(
        subject=pl.format("child:{}", pl.col("child_id"))
    )
    listed = set(
        session.scalars(select(Application.subject).where(Application.cycle_id == cycle.id))
    )
    new = children.filter(~pl.col("subject").is_in(list(listed)))
    if new.height:
        rows = new.select(
            cycle_id=pl.lit(cycle.id, dtype=pl.Int64),
            resident_id=applicant,
            child_id=pl.col("child_id"),
            subject=pl.col("subject"),
            choices=pl.lit(""),
            fields=pl.lit("{}"),
            # From the registry: nothing a department has to check before the run.
            status=pl.lit(ApplicationStatus.VERIFIED.value),
            submitted_by=pl.lit(actor.username),
            verified_by=pl.lit(actor.username),
        )
        rows = bulk.with_ids(session, Application.__table__, rows)
        bulk.insert_frame(session, Application.__table__, rows)
    enrolment = Enrolment(new.height, children.height - new.height, without_parent)
    audit.record(
        session,
        actor,
        "entitlement.enrol",
        "program_cycle",
        cycle.id,
        detail={
            "added": enrolment.added,
            "already": enrolment.already,
            "without_parent": enrolment.without_parent,
            "ages": [ages.min_age, ages.max_age],
        },
    )
    return enrolment


def produce_list(
    actor: Actor, session: Session, cycle_id: int, scoring_run_id: int | None = None
) -> tuple[Enrolment, AllocationRun]:
    """The list of the cycle (``enrol``), decided: a run whose every entry is 核准 (placed) or
    not eligible with the rules it fails; published with ``luodi notice publish``."""
    enrolment = enrol(actor, session, cycle_id)
    run = allocation.allocate_cycle(actor, session, cycle_id, SEED, scoring_run_id)
    return enrolment, run
