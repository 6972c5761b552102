"""The console's school-place forecast (``/console/forecast``): per town, the expected band against the seats over the years (a chart and its table), the warning list, the scenario, the export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console/forecast")
