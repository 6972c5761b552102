"""The console's allocation runs (``/console/cycles/{id}/runs`` fragment, ``/console/runs/…``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
