"""``/console``: what needs me now, by role. Every item is read through its domain's service
with the signed-in actor, so each role sees its own scope (a reviewer their department's
applications, town staff their town's); a section shows only to the roles whose console has
the area it links to (``may_open``), so no item leads to a page that is not there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.audit import service as audit
from luodi.auth.actor import Actor
from luodi.auth.permissions import may_open
from luodi.errors import LuodiError
from luodi.feeds import catalog as feed_catalog
from luodi.feeds import service as feeds
from luodi.notices import deadlines as notice_deadlines
from luodi.programs import deadlines as program_deadlines
from luodi.programs import service as programs
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import CycleStatus, ProgramCycle
from luodi.registry import service as registry
from luodi.scoring import service as scoring
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.rendering import console_actor, render

router = APIRouter()

LISTED = 8
"""Items per list: what needs doing first; the area's own page has the rest."""
CLOSING_DAYS = 7
"""A cycle whose window ends within this many days is "closing"."""
OVERDUE_KINDS = {"application": N_("申请审核"), "objection": N_("异议复核")}


@dataclass
class Card:
    label: str
    number: int
    href: str
    tone: str = ""
    """'' | 'warn' | 'bad': a count that wants attention now."""


@dataclass
class Dashboard:
    cards: list[Card] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)


def in_language(text: Any) -> str:
    """A bilingual name (``zh``/``en``) in the page's language (English falling back)."""
    english = getattr(text, "en", "") or ""
    return english if i18n.language() == "en" and english else str(getattr(text, "zh", text))


def _program_names(cycles: list[ProgramCycle]) -> dict[int, str]:
    return {cycle.id: f"{in_language(cycle_spec(cycle).name)} · {cycle.name}" for cycle in cycles}


def _applications(actor: Actor, session: Session, board: Dashboard, names: dict[int, str]) -> None:
    today = workdays.today()
    total, soonest = program_deadlines.waiting_applications(actor, session, LISTED)
    late = soonest.filter(soonest["due_on"] < today).height if total else 0
    board.cards.append(
        Card(_("待审核申请"), total, "#waiting", "bad" if late else ("warn" if total else ""))
    )
    board.sections["waiting"] = [
        {
            **row,
            "cycle": names.get(row["cycle_id"], str(row["cycle_id"])),
            "late": row["due_on"] < today,
        }
        for row in soonest.to_dicts()
    ]
    board.sections["waiting_total"] = total


def _objections(actor: Actor, session: Session, board: Dashboard, names: dict[int, str]) -> None:
    today = workdays.today()
    total, soonest = notice_deadlines.open_objections(actor, session, LISTED)
    late = soonest.filter(soonest["due_on"] < today).height if total else 0
    board.cards.append(
        Card(_("待复核异议"), total, "#objections", "bad" if late else ("warn" if total else ""))
    )
    board.sections["objections"] = [
        {
            **row,
            "cycle": names.get(row["cycle_id"], "") if row["cycle_id"] else "",
            "late": row["due_on"] < today,
        }
        for row in soonest.to_dicts()
    ]
    board.sections["objections_total"] = total


def _cycles(board: Dashboard, cycles: list[ProgramCycle], names: dict[int, str]) -> None:
    today = workdays.today()
    closing_by = today + timedelta(days=CLOSING_DAYS)
    taking = sorted(
        (cycle for cycle in cycles if cycle.status == CycleStatus.OPEN and cycle.closes >= today),
        key=lambda cycle: (cycle.closes, cycle.id),
    )
    closing = [cycle for cycle in taking if cycle.closes <= closing_by]
    board.cards.append(Card(_("受理中的周期"), len(taking), "#cycles"))
    board.cards.append(
        Card(
            _("%(days)s 天内截止", days=CLOSING_DAYS),
            len(closing),
            "#cycles",
            "warn" if closing else "",
        )
    )
    board.sections["cycles"] = [
        {
            "id": cycle.id,
            "name": names[cycle.id],
            "department": cycle.department,
            "opens": cycle.opens,
            "closes": cycle.closes,
            "days_left": (cycle.closes - today).days,
            "closing": cycle.closes <= closing_by,
            "started": cycle.opens <= today,
        }
        for cycle in taking[: LISTED * 2]
    ]


def _overdue(actor: Actor, session: Session, board: Dashboard, names: dict[int, str]) -> None:
    items = notice_deadlines.overdue(actor, session)
    board.cards.append(Card(_("逾期未办"), items.height, "#overdue", "bad" if items.height else ""))
    board.sections["overdue"] = [
        {
            **row,
            "kind_label": _(OVERDUE_KINDS[row["kind"]]),
            "cycle": names.get(row["cycle_id"], "") if row["cycle_id"] else "",
            "href": f"/console/applications/{row['id']}"
            if row["kind"] == "application"
            else f"/console/objections/{row['id']}",
        }
        for row in items.head(LISTED).to_dicts()
    ]
    board.sections["overdue_total"] = items.height


def _feed_title(feed_id: str) -> str:
    try:
        return in_language(feed_catalog.find_feed(feed_id).title)
    except LuodiError:
        return feed_id  # a feed since removed from the catalogue: its id is all there is


def _imports(actor: Actor, session: Session, board: Dashboard) -> None:
    batches = feeds.list_batches(actor, session)[:LISTED]
    board.sections["imports"] = [
        {
            "id": batch.id,
            "feed": _feed_title(batch.feed),
            "department": batch.department,
            "file_name": batch.file_name,
            "imported_at": batch.imported_at,
            "imported_by": batch.imported_by,
            "rows_imported": batch.rows_imported,
            "rows_rejected": batch.rows_rejected,
        }
        for batch in batches
    ]


def _scoring(actor: Actor, session: Session, board: Dashboard) -> None:
    runs = scoring.list_runs(actor, session)
    board.sections["scoring"] = runs[0] if runs else None


def _residents(actor: Actor, session: Session, board: Dashboard) -> None:
    total, latest = registry.latest_registrations(actor, session, LISTED)
    board.cards.append(Card(_("新市民"), total, "#residents"))
    board.sections["residents"] = latest


def _audit(actor: Actor, session: Session, board: Dashboard) -> None:
    board.sections["verification"] = audit.last_verification(actor, session)
    board.sections["verification_checked"] = True


def dashboard(actor: Actor, session: Session) -> Dashboard:
    """The items of the actor's console home, each read in the actor's scope."""
    board = Dashboard()
    cycles = programs.list_cycles(actor, session)
    names = _program_names(cycles)
    _applications(actor, session, board, names)
    if may_open(actor, "objections"):
        _objections(actor, session, board, names)
    _overdue(actor, session, board, names)
    _cycles(board, cycles, names)
    if may_open(actor, "residents"):
        _residents(actor, session, board)
    if may_open(actor, "feeds"):
        _imports(actor, session, board)
    if may_open(actor, "scoring"):
        _scoring(actor, session, board)
    if may_open(actor, "audit"):
        _audit(actor, session, board)
    return board


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "home")
    board = dashboard(actor, session)
    return render(
        request,
        actor,
        "console/home.html",
        {"cards": board.cards, "today": workdays.today(), **board.sections},
    )
