"""The console's policy what-if (``/console/policies/whatif``): a draft policy against the published one on the registry, as a job; the one-screen summary, the charts, the tables."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console/policies/whatif")
