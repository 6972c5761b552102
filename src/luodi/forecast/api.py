"""The school-place forecast over HTTP (``/api/v1/forecast``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/forecast", tags=["forecast 学位预测"])
