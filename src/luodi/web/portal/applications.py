"""Resident portal: applications (filled in by issue 17)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
