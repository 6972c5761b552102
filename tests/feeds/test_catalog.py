"""The feed folder is read once and again only when a declaration changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from luodi.errors import Invalid
from luodi.feeds import catalog
from luodi.settings import SHIPPED_FEED_DIR


def test_a_changed_declaration_is_read_again(tmp_path: Path) -> None:
    shutil.copy(SHIPPED_FEED_DIR / "tax.yaml", tmp_path / "tax.yaml")
    first = catalog.load_feeds(tmp_path)
    assert catalog.load_feeds(tmp_path) is first  # unchanged folder: not parsed again
    path = tmp_path / "tax.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("纳税年度, 所属年度", "纳税年度, 税款所属期"),
        encoding="utf-8",
    )
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    changed = catalog.load_feeds(tmp_path)
    assert "税款所属期" in changed["tax"].columns["tax_year"].headers
    assert catalog.fact_variables(tmp_path)["tax_years"].feeds == ("tax",)
    (tmp_path / "broken.yaml").write_text("id: broken\n", encoding="utf-8")
    with pytest.raises(Invalid) as raised:
        catalog.load_feeds(tmp_path)
    assert "broken.yaml" in raised.value.message_zh
