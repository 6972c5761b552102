"""The console's 积分制总量分析 (``/console/analysis``): a scoring run's distributions, thresholds over runs, movement and layers, as charts with their tables, and the exports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console/analysis")
