"""Policy errors name a file by its place in the policy folder and the folder by its setting,
never by a path on the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from luodi.errors import Invalid, NotFound
from luodi.policy import service
from tests.kernels.policy.conftest import DEMO


def test_a_missing_policy_folder_is_named_by_its_setting(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as raised:
        service.published_policies(tmp_path / "gone")
    assert "LUODI_POLICY_DIR" in str(raised.value)
    assert str(tmp_path) not in str(raised.value)


def test_a_broken_published_policy_is_named_within_the_folder(tmp_path: Path) -> None:
    (tmp_path / "city").mkdir()
    broken = tmp_path / "city" / "broken.yaml"
    broken.write_text(DEMO.read_text().replace('"50 * convictions"', '"50 * convicton"'))
    with pytest.raises(Invalid) as raised:
        service.published_policies(tmp_path)
    shown = str(raised.value) + " ".join(problem.describe() for problem in raised.value.details)
    assert "city/broken.yaml" in shown and "convicton" in shown
    assert str(tmp_path) not in shown
