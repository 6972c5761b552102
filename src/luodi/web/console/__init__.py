"""The staff console (``/console/…``): each role's whole job in the browser. One module per
area (residents, feeds, scoring, cycles, objections, policies and their what-if, forecast,
analysis, ratings, users, audit); which roles open
which area is ``auth.permissions.CONSOLE_AREAS``, which rows they then see is each domain's
``readable(actor)``."""

from __future__ import annotations

from fastapi import APIRouter

from luodi.web.console import (
    analysis,
    audit,
    cycles,
    feeds,
    forecast,
    home,
    objections,
    policies,
    ratings,
    residents,
    runs,
    scoring,
    users,
    whatif,
)

router = APIRouter(include_in_schema=False)
for area in (
    home,
    residents,
    feeds,
    scoring,
    cycles,
    runs,
    objections,
    whatif,  # before policies: /console/policies/whatif is not a policy's id
    policies,
    forecast,
    analysis,
    ratings,
    users,
    audit,
):
    router.include_router(area.router)
