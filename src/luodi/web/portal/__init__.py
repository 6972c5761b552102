"""The resident's portal (``/my``), phone first: one router module per page — home (``/my``),
points (``/my/points``), entitlements (``/my/entitlements``), apply (``/my/apply/{cycle}``),
applications (``/my/applications/{id}``) — and the account pages a resident signs in with
(activation by a one-time code, password reset).

A resident sees only self and own household: who that is comes from the signed-in account
(``resident_actor``, ``own_resident_id``), never from a request's fields."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import PUBLIC_ACTOR, Actor, Role
from luodi.auth.permissions import acts_as
from luodi.auth.scopes import resident_of_actor
from luodi.errors import NotFound, Unauthorized


def resident_actor(actor: Actor) -> Actor:
    """The actor, if a resident: a visitor not signed in is sent to sign in (and back); any
    other role gets 404 (the portal is not theirs; staff work in ``/console``)."""
    if actor == PUBLIC_ACTOR:
        raise Unauthorized("请先登录", "sign in first")
    if not acts_as(actor, Role.RESIDENT):
        raise NotFound("没有这个页面", "no such page")
    return actor


def own_resident_id(actor: Actor, session: Session) -> int:
    """The registry id of the signed-in resident (404 when the account's ID number is not, or
    no longer, in the registry)."""
    found = session.execute(select(resident_of_actor(resident_actor(actor)))).scalar_one_or_none()
    if found is None:
        raise NotFound("登记库中没有您的记录，请到服务中心核对", "you are not in the registry")
    return int(found)


def _router() -> APIRouter:
    # Imported here: each page module imports this package's helpers.
    from luodi.web.portal import (
        account,
        applications,
        apply,
        entitlements,
        home,
        points,
        ratings,
    )

    combined = APIRouter(include_in_schema=False)
    for module in (home, points, entitlements, apply, applications, account, ratings):
        combined.include_router(module.router)
    return combined


router = _router()
