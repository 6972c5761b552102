"""积分制总量分析 over HTTP (``/api/v1/analysis``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis 积分分析"])
