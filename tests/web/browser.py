"""A real browser against a real server: Debian's Chromium driven by Playwright, a uvicorn
server on a free port (with the job worker), and the checks every page gets: axe-core (vendored
from npm) with no serious or critical violation, no sideways scrolling at 390 px, and a
screenshot at 1280 and 390 px kept as a test artefact (``var/test-artefacts/pages/``, or
``LUODI_ARTEFACTS``)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from luodi.app import create_app
from tests.conftest import require_or_skip

CHROMIUM = os.environ.get("LUODI_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTEFACTS = Path(
    os.environ.get(
        "LUODI_ARTEFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artefacts"
    )
)
WIDTHS = (1280, 390)
BLOCKING = ("serious", "critical")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(engine: Engine, **app_options: Any) -> Iterator[str]:
    """A real server on ``engine`` for the length of the block; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(engine, **app_options), host="127.0.0.1", port=port, log_level="warning"
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


def launch_browser() -> Iterator[Any]:
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


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA
    and best practices). The script is evaluated, not added as a tag: the pages' CSP admits no
    inline script, and the test must not loosen it."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => {
          const result = await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
          });
          return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
          }));
        }"""
    )
    return [violation for violation in found if violation["impact"] in BLOCKING]


def sideways_overflow(page: Any) -> list[str]:
    """Elements that stick out past the viewport's right edge (outside a scrolling box)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) { return []; }
          const out = [];
          for (const element of document.body.querySelectorAll('*')) {
            const box = element.getBoundingClientRect();
            if (box.right > width + 1 && !element.closest('.table-scroll, nav.console')) {
              out.push(element.tagName.toLowerCase() +
                (element.className ? '.' + String(element.className).split(' ')[0] : '') +
                (element.id ? '#' + element.id : ''));
            }
          }
          return out.length ? out.slice(0, 10) : ['the page is ' +
            document.documentElement.scrollWidth + ' px wide'];
        }"""
    )


def check_page(page: Any, name: str) -> None:
    """The checks every page gets, at 1280 and then 390 px: no serious or critical axe-core
    violation, nothing wider than the phone's screen, a full-page screenshot of each."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(50)  # let the layout (and any chart) settle at the new width
            violations = axe_violations(page)
            assert violations == [], f"{name} at {width} px: axe-core found {violations}"
            if width < 500:
                overflow = sideways_overflow(page)
                assert overflow == [], f"{name} scrolls sideways at {width} px: {overflow}"
            page.screenshot(path=str(ARTEFACTS / f"{name}-{width}.png"), full_page=True)
    finally:
        if original:
            page.set_viewport_size(original)


def sign_in(page: Any, server: str, username: str, password: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{server}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    # Signed in means the login page is gone; ``wait_for_load_state`` alone could still see it.
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="module")
def server(loaded_engine: Engine) -> Iterator[str]:
    """``luodi serve`` as it runs: the app and its job worker."""
    yield from serve(loaded_engine, worker=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium per test worker (a launch costs seconds; twenty modules use it): each test
    opens its own pages, each page in a context of its own (cookies not shared)."""
    yield from launch_browser()


@pytest.fixture(scope="module")
def pages_on_one_database(loaded_engine: Engine) -> None:
    """An area's pages are checked in the browser on SQLite only: a page renders what its
    service read, the same on either database (the services' tests run on both), and the
    whole flow (tests/web/console/test_flow.py) runs in the browser on both. Name it before
    ``server`` so that no server starts for the skipped database."""
    if loaded_engine.dialect.name != "sqlite":
        pytest.skip("pages in the browser: SQLite here; the whole flow runs on both databases")
