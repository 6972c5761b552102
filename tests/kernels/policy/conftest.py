from __future__ import annotations

from pathlib import Path

import pytest

from luodi.kernels.policy import CompiledPolicy

HERE = Path(__file__).parent
REPOSITORY = HERE.parents[2]
SHIPPED = sorted((REPOSITORY / "policies").rglob("*.yaml"))
CURRENT = REPOSITORY / "policies" / "zj-cixi" / "2026.1.yaml"
DEMO = HERE / "demo_city.yaml"


@pytest.fixture(scope="session")
def current_policy() -> CompiledPolicy:
    return CompiledPolicy.from_text(CURRENT.read_text(), str(CURRENT))


@pytest.fixture(scope="session")
def demo_policy() -> CompiledPolicy:
    return CompiledPolicy.from_text(DEMO.read_text(), str(DEMO))
