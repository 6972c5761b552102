"""The home page in a real browser: Debian's Chromium driven by Playwright, a real server."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from luodi.app import create_app
from tests.conftest import require_or_skip

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LUODI_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(loaded_engine: Engine) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(loaded_engine), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        require_or_skip(
            "LUODI_REQUIRE_BROWSER", f"Chromium not found at {CHROMIUM} (make browser installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


def test_home_page_shows_towns_with_bars(
    server: str, browser: object, small_city: Path, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server + "/")
    assert page.title().startswith("落地")
    assert page.get_by_test_id("total-residents").inner_text() == "3,000"
    rows = page.locator("table.towns tbody tr")
    assert rows.count() == 19
    zhouxiang = page.locator('tr[data-town="330282114"]')
    assert "周巷镇" in zhouxiang.inner_text()
    # The bars are drawn, each as long as its town's residents relative to the largest town.
    widths = page.locator("td.bar-col .bar").evaluate_all(
        "bars => bars.map(bar => bar.getBoundingClientRect().width)"
    )
    counts = [
        int(text.replace(",", "")) for text in page.locator("td.bar-col .count").all_inner_texts()
    ]
    assert max(widths) > 100
    for width, residents in zip(widths, counts, strict=True):
        assert abs(width / max(widths) - residents / max(counts)) < 0.01
    # Each count sits on the line of its bar (nothing wraps).
    heights = page.locator("td.bar-col").evaluate_all(
        "cells => cells.map(c => c.getBoundingClientRect().height)"
    )
    assert max(heights) < 2 * min(heights)
    assert not failed, f"requests failed (a CDN?): {failed}"
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    page.close()
