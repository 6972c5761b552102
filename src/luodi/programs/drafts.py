"""A resident's application as a task list (``/my/apply/{cycle}``): who it may be for, the
answers saved as a draft between visits, and the submission — through ``intake`` (the one
place an application's checks live), after which the draft is gone.

A draft is its account's alone (read and written by the signed-in account's name), for a
person the registry says the resident applies for: self, or one of the children whose
registered parent the resident is (never a number typed in a form). Every change is audited.
The caller commits (transactions at the edge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.auth.scopes import resident_of_actor
from luodi.errors import Conflict, NotFound
from luodi.programs import intake, repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationDraft, CycleStatus, ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.registry.models import Child, Resident

SELF = "self"
ONLINE = "网上申请 online application"
"""The ``file`` an online application's problems are reported under."""
MAX_ANSWER = 500
"""Longest kept text of one answer (a field's value as typed, a choice's id)."""


def child_person(child_id: int) -> str:
    return f"child:{child_id}"


@dataclass(frozen=True)
class Person:
    """Somebody a resident may apply for: ``key`` is ``self`` or ``child:<id>``."""

    key: str
    name: str
    resident: Resident
    child: Child | None = None

    @property
    def is_child(self) -> bool:
        return self.child is not None


@dataclass
class Answers:
    """A draft's answers as the task list saved them (values as typed)."""

    guide: bool = False
    """The service guide was read (section 1)."""
    facts: bool = False
    """The prefilled facts were confirmed (section 3)."""
    fields: dict[str, str] = field(default_factory=dict)
    fields_done: bool = False
    """The program's fields were checked and accepted (section 4)."""
    choices: list[str] = field(default_factory=list)
    choices_done: bool = False
    """The choices were checked and accepted (section 5)."""

    @classmethod
    def of(cls, draft: ApplicationDraft | None) -> Answers:
        if draft is None:
            return cls()
        raw = json.loads(draft.answers or "{}")
        return cls(
            guide=bool(raw.get("guide")),
            facts=bool(raw.get("facts")),
            fields={str(k): str(v)[:MAX_ANSWER] for k, v in (raw.get("fields") or {}).items()},
            fields_done=bool(raw.get("fields_done")),
            choices=[str(c)[:MAX_ANSWER] for c in raw.get("choices") or []],
            choices_done=bool(raw.get("choices_done")),
        )

    def as_json(self) -> str:
        return json.dumps(
            {
                "guide": self.guide,
                "facts": self.facts,
                "fields": self.fields,
                "fields_done": self.fields_done,
                "choices": self.choices,
                "choices_done": self.choices_done,
            },
            ensure_ascii=False,
            sort_keys=True,
        )


def _own_resident(actor: Actor, session: Session) -> Resident:
    require(actor, Role.RESIDENT)
    resident = session.scalars(
        select(Resident).where(Resident.id == resident_of_actor(actor))
    ).one_or_none()
    if resident is None:
        raise NotFound("登记库中没有您的记录，请到服务中心核对", "you are not in the registry")
    return resident


def own_fields(spec: ProgramSpec) -> dict[str, Any]:
    """The program's fields the applicant fills in (not those the department sets)."""
    return {name: f for name, f in spec.fields.items() if f.set_by == "applicant"}


def applies_for_children(spec: ProgramSpec) -> bool:
    """A school place is the child's: its application is for one of own children; every
    other program's is the resident's own (public rental: on behalf of the household)."""
    return spec.kind is ProgramKind.SCHOOL_ADMISSION


def persons(actor: Actor, session: Session, cycle: ProgramCycle) -> list[Person]:
    """Whom the signed-in resident may apply for in ``cycle``, from the registry: own
    children (school places), or self."""
    resident = _own_resident(actor, session)
    if applies_for_children(cycle_spec(cycle)):
        return [
            Person(child_person(child.id), child.name, resident, child)
            for child in repository.own_child_records(session, resident.id)
        ]
    return [Person(SELF, resident.name, resident)]


def person_of(actor: Actor, session: Session, cycle: ProgramCycle, key: str) -> Person:
    """The person ``key`` names, if the resident may apply for them; else "not found" (a
    child not one's own looks the same as no child)."""
    for person in persons(actor, session, cycle):
        if person.key == key:
            return person
    raise NotFound("没有这个申请对象", "no such person to apply for")


def window_problem(cycle: ProgramCycle, today: date | None = None) -> tuple[str, str] | None:
    """Why the cycle takes no application today (``intake``'s own test, said before the
    resident starts), or None while it does."""
    day = today or workdays.today()
    if cycle.status != CycleStatus.OPEN:
        return ("本周期已停止受理申请", "this cycle no longer takes applications")
    if day < cycle.opens:
        return (
            f"本周期将于 {cycle.opens} 开始受理申请",
            f"this cycle takes applications from {cycle.opens}",
        )
    if day > cycle.closes:
        return (
            f"本周期的申请已于 {cycle.closes} 截止",
            f"applications to this cycle closed on {cycle.closes}",
        )
    return None


def drafts(actor: Actor, session: Session, cycle_id: int) -> list[ApplicationDraft]:
    """The account's drafts in a cycle, the latest changed first."""
    require(actor, Role.RESIDENT)
    return list(
        session.scalars(
            repository.drafts_of(actor.username, cycle_id).order_by(
                ApplicationDraft.updated_at.desc(), ApplicationDraft.id.desc()
            )
        )
    )


def draft_of(actor: Actor, session: Session, cycle_id: int, person: str) -> ApplicationDraft | None:
    require(actor, Role.RESIDENT)
    return session.scalars(
        repository.drafts_of(actor.username, cycle_id).where(ApplicationDraft.person == person)
    ).one_or_none()


def existing_application(
    actor: Actor, session: Session, cycle: ProgramCycle, person: Person
) -> Application | None:
    """The application already filed in the cycle for ``person`` that the resident reads
    (one per person and cycle)."""
    statement = repository.readable_applications(actor).where(Application.cycle_id == cycle.id)
    if person.child is not None:
        statement = statement.where(Application.child_id == person.child.id)
    else:
        statement = statement.where(
            Application.resident_id == person.resident.id, Application.child_id.is_(None)
        )
    return session.scalars(statement.order_by(Application.id.desc()).limit(1)).one_or_none()


def cycle_applications(actor: Actor, session: Session, cycle_id: int) -> list[Application]:
    """The applications of a cycle the resident reads (filed, or of own children), oldest
    first."""
    require(actor, Role.RESIDENT)
    return list(
        session.scalars(
            repository.readable_applications(actor)
            .where(Application.cycle_id == cycle_id)
            .order_by(Application.id)
        )
    )


def save(
    actor: Actor, session: Session, cycle: ProgramCycle, person: Person, answers: Answers
) -> ApplicationDraft:
    """Keep ``answers`` as the draft for ``person`` (made on the first save); audited."""
    require(actor, Role.RESIDENT)
    draft = draft_of(actor, session, cycle.id, person.key)
    before = audit.row_state(draft) if draft is not None else None
    if draft is None:
        draft = ApplicationDraft(
            username=actor.username,
            resident_id=person.resident.id,
            cycle_id=cycle.id,
            person=person.key,
        )
        session.add(draft)
    draft.answers = answers.as_json()
    draft.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session,
        actor,
        "application_draft.save",
        "application_draft",
        draft.id,
        before,
        audit.row_state(draft),
        {"cycle_id": cycle.id, "person": person.key},
    )
    return draft


def discard(actor: Actor, session: Session, cycle: ProgramCycle, person: Person) -> None:
    """Delete the draft for ``person`` (nothing when there is none); audited."""
    draft = draft_of(actor, session, cycle.id, person.key)
    if draft is None:
        return
    _delete(actor, session, draft, "application_draft.discard")


def _delete(actor: Actor, session: Session, draft: ApplicationDraft, action: str) -> None:
    before = audit.row_state(draft)
    draft_id = draft.id
    session.delete(draft)
    session.flush()
    audit.record(session, actor, action, "application_draft", draft_id, before)


def record_of(spec: ProgramSpec, person: Person, answers: Answers) -> dict[str, Any]:
    """The record ``intake`` takes for a resident's own application: the child's number from
    the registry, the choices and the program's own fields as the task list kept them."""
    record: dict[str, Any] = {
        name: answers.fields[name] for name in own_fields(spec) if name in answers.fields
    }
    if person.child is not None:
        record["child_id_number"] = person.child.id_number
    if spec.kind in intake.CHOOSING:
        record["choices"] = answers.choices
    return record


def submit(
    actor: Actor, session: Session, cycle: ProgramCycle, person: Person, today: date | None = None
) -> int:
    """Submit the draft for ``person`` through ``intake.submit_applications`` (its checks:
    the window, the record's shape, the child's parents, one application per person) and
    delete it; the application's id. A refused submission keeps the draft."""
    draft = draft_of(actor, session, cycle.id, person.key)
    if draft is None:
        raise Conflict("没有可提交的申请草稿", "no draft to submit")
    answers = Answers.of(draft)
    spec = cycle_spec(cycle)
    (application_id,) = intake.submit_applications(
        actor,
        session,
        cycle.id,
        [record_of(spec, person, answers)],
        ONLINE,
        today or workdays.today(),
    )
    _delete(actor, session, draft, "application_draft.submit")
    return application_id
