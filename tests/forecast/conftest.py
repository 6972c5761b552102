"""The CLI and API tests give ``repository.history`` the kernel tests' small city (built to
``ForecastHistory``'s documentation, in memory: fast, and with its numbers known); the path
through the database is ``test_known_future``'s (and the data layer's own tests')."""

from __future__ import annotations

import pytest

from luodi.forecast import repository
from luodi.forecast.repository import ForecastHistory
from tests.kernels.forecast.city import city

TOWN_NAMES = {"T1": "一镇", "T2": "二镇", "T3": "三镇"}


def city_history() -> ForecastHistory:
    frames = city()
    return ForecastHistory(
        frames.children, frames.intakes, frames.new_permits, frames.seats, dict(TOWN_NAMES)
    )


@pytest.fixture
def kernel_city(monkeypatch: pytest.MonkeyPatch) -> ForecastHistory:
    history = city_history()
    monkeypatch.setattr(repository, "history", lambda _session, _actor: history)
    return history
