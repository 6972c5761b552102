"""The console's policy what-if: who finds it (the analysis roles, linked from the policies
page), a YAML error shown at the top with its line and column and the text kept, an upload
started as a job whose page shows the summary, the charts' tables and the workbook, the
English page; and one browser run through to the summary."""

from __future__ import annotations

import io
import re
from typing import Any

import polars as pl
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth.actor import Actor
from luodi.jobs.worker import run_pending
from luodi.policy.whatif_book import SHEETS
from tests.policy.test_whatif import AS_OF, POLICY, draft_text
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client

URL = "/console/policies/whatif"


def test_who_finds_the_what_if(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "town")
    assert 'data-testid="whatif-link"' not in client.get("/console/policies").text
    assert client.get(URL).status_code == 404
    page_client(client, "auditor")
    assert 'data-testid="whatif-link"' in client.get("/console/policies").text
    copy = client.get(URL, params={"copy": "zj-cixi"}).text
    # The copy is the version in force today, its text in the area to edit.
    assert "version: &#34;2026.1&#34;" in copy or 'version: "2026.1"' in copy
    client.cookies.clear()


def test_a_yaml_error_is_shown_with_its_line_and_the_text_is_kept(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "operator")
    client.get(URL)
    text = POLICY.read_text(encoding="utf-8").replace("kind: basic", "kind: basik", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "basik" in row)
    answer = client.post(
        URL,
        data={"draft_text": text, "as_of": AS_OF.isoformat(), "thresholds": "60,90",
              "csrf_token": client.cookies.get("luodi_csrf")},
    )  # fmt: skip
    assert answer.status_code == 422
    summary = answer.text.split('data-testid="error-summary"', 1)[1].split("</div>", 1)[0]
    assert re.search(rf'<a href="#draft_text">草稿第 {line} 行第 \d+ 列', summary), summary
    assert "basik" in answer.text.split('id="draft_text"', 1)[1].split("</textarea>", 1)[0]
    assert 'value="60,90"' in answer.text
    client.cookies.clear()


def test_an_uploaded_draft_runs_as_a_job_to_its_summary_tables_and_workbook(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page_client(client, "operator")
    client.get(URL)
    answer = client.post(
        URL,
        data={"as_of": AS_OF.isoformat(), "thresholds": "90",
              "csrf_token": client.cookies.get("luodi_csrf")},
        files={"draft_file": ("mine.yaml", draft_text().encode(), "application/yaml")},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert f'hx-get="{location}"' in client.get(location).text  # it polls itself
    assert run_pending(loaded_engine) == 1
    fragment = client.get(location, headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and 'data-state="done"' in fragment
    summary = fragment.split('data-testid="whatif-summary"', 1)[1].split("</section>", 1)[0]
    assert "mine.yaml" in summary and "人跨过 90 分" in summary
    overall = table_rows(fragment, "whatif-bands")[0]
    assert int(overall[0].replace(",", "")) == sum(int(c.replace(",", "")) for c in overall[1:])
    towns = table_rows(fragment, "whatif-towns-table")
    assert sum(int(row[1].replace(",", "")) for row in towns) == int(overall[0].replace(",", ""))
    book = client.get(f"{location}/whatif.xlsx")
    assert book.status_code == 200 and book.headers["content-type"].startswith(
        "application/vnd.openxmlformats"
    )
    assert list(pl.read_excel(io.BytesIO(book.content), sheet_id=0, has_header=False)) == list(
        SHEETS
    )
    client.cookies.set("luodi_lang", "en")
    english = client.get(location).text
    assert "cross 90 upwards" in english and "Gainers and losers" in english
    for word in ("摘要", "升降分段", "总分分布", "跨线人数", "入学影响"):
        assert word not in english, word
    client.cookies.clear()


def test_the_what_if_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
) -> None:
    page = browser.new_page()
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/policies")
    page.get_by_test_id("whatif-link").click()
    check_page(page, "whatif-index")
    page.get_by_test_id("copy-current").click()
    draft = page.get_by_label("或编辑草稿文本")
    draft.fill(draft.input_value().replace("kind: basic", "kind: basik", 1))
    page.get_by_label("计分日期").fill(AS_OF.isoformat())
    page.get_by_role("button", name="开始试算").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    assert "basik" in page.get_by_label("或编辑草稿文本").input_value()
    check_page(page, "whatif-form-error")
    page.get_by_label("或编辑草稿文本").fill(draft_text())
    page.get_by_role("button", name="开始试算").click()
    expect(page.get_by_test_id("whatif-summary")).to_be_visible(timeout=30_000)
    page.wait_for_selector("#whatif-towns svg")
    check_page(page, "whatif-result")
    page.close()
