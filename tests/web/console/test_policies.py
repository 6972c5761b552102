"""The console's policies area: the published versions as readable tables (every indicator of
the shipped policy with its kind, rule in words, cap and source) and each version's test cases
with their results, in Chinese and in English; who opens it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from luodi.auth.actor import Actor
from luodi.policy.service import published_policies
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client

KIND_WORDS = {"basic": "基础分", "bonus": "加分", "deduction": "减分"}


def shipped(version: str) -> Any:
    return next(
        item.policy
        for item in published_policies()
        if item.policy.id == "zj-cixi" and item.policy.version == version
    )


def cap_text(cap: float | None) -> str:
    return "不封顶" if cap is None else f"{cap:g} 分"


@pytest.mark.parametrize("username", ["operator", "edu", "town", "auditor"])
def test_every_staff_role_reads_the_policies(
    client: TestClient, accounts: dict[str, Actor], username: str
) -> None:
    page_client(client, username)
    answer = client.get("/console/policies")
    assert answer.status_code == 200
    assert "zj-cixi/2026.1" in answer.text
    client.cookies.clear()


def test_a_resident_has_no_policies_area(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "resident")
    assert client.get("/console/policies").status_code == 404
    assert client.get("/console/policies/zj-cixi/2026.1").status_code == 404
    client.cookies.clear()


def test_the_versions_are_listed_with_their_dates(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "operator")
    rows = table_rows(client.get("/console/policies").text, "versions")
    assert [row[:3] for row in rows] == [
        ["慈溪市新市民量化积分", "2023.1 版", "2023-07-01 至 2025-12-31"],
        ["慈溪市新市民量化积分", "2026.1 版", "2026-01-01 起"],
    ]
    assert [row[3] for row in rows] == ["已失效", "施行中"]
    assert rows[1][4:] == [str(len(shipped("2026.1").indicators)), "27"]
    client.cookies.clear()


@pytest.mark.parametrize("path", ["/console/policies", "/console/policies/zj-cixi/2026.1"])
def test_every_indicator_is_a_row_with_its_kind_cap_and_source(
    client: TestClient, accounts: dict[str, Actor], path: str
) -> None:
    page_client(client, "operator")
    policy = shipped("2026.1")
    rows = table_rows(client.get(path).text, "rules-zj-cixi-2026.1")
    assert len(rows) == len(policy.indicators) == 20
    for row, indicator in zip(rows, policy.indicators, strict=True):
        label, kind, words, cap, source = row
        assert label.startswith(indicator.label.zh)
        assert kind == KIND_WORDS[indicator.kind]
        assert cap == cap_text(indicator.cap), indicator.id
        assert source == indicator.source
        assert words and "公式（原文）" not in words, indicator.id  # every shipped rule in words
    by_id = {indicator.id: row for indicator, row in zip(policy.indicators, rows, strict=True)}
    assert by_id["social_insurance"][2] == "在浙累计缴纳社保月数 × 0.5，最多 30 分"
    assert by_id["education"][2] == "最高学历：大专 8 分；本科、硕士、博士 10 分；其他 5 分"
    assert by_id["employment"][2] == "连续就业月数 ≥ 12 时 10 分；否则 0 分"
    client.cookies.clear()


def test_a_rule_words_cannot_say_is_shown_as_written(
    client: TestClient, accounts: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.web.console import policies

    monkeypatch.setattr(policies, "indicator_words", lambda *_args: None)
    page_client(client, "operator")
    html = client.get("/console/policies/zj-cixi/2026.1").text
    rows = table_rows(html, "rules-zj-cixi-2026.1")
    assert rows[5][2] == "公式（原文） 0.5 * social_insurance_months"
    client.cookies.clear()


def test_every_test_case_is_listed_with_expected_and_actual(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "town")
    html = client.get("/console/policies/zj-cixi/2026.1").text
    policy = shipped("2026.1")
    rows = table_rows(html, "tests")
    assert [row[0] for row in rows] == [case.name for case in policy.tests]
    assert all(row[2] == "通过" for row in rows)
    assert f"{len(policy.tests)} / {len(policy.tests)} 通过" in html
    first = rows[0][3]  # 总分 42 42 年龄 20 20 …
    assert first.startswith("项目 期望 实际 总分 42 42 年龄 20 20 文化程度 5 5")
    deduction = rows[[case.name for case in policy.tests].index("一次行政拘留扣20分")][3]
    assert "行政拘留 -20 -20" in deduction
    client.cookies.clear()


def test_a_failing_case_shows_both_numbers(
    client: TestClient, accounts: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.kernels.policy.engine import TestOutcome
    from luodi.web.console import policies

    failing = TestOutcome(
        "坏用例", shipped("2026.1").tests[0].as_of, {"total": 43.0}, {"total": 42.0}, ["total"]
    )
    monkeypatch.setattr(policies, "case_outcomes", lambda _compiled: [failing])
    page_client(client, "operator")
    html = client.get("/console/policies/zj-cixi/2026.1").text
    assert table_rows(html, "tests") == [
        ["坏用例", "2026-03-01", "未通过", "项目 期望 实际 总分 43 42 ≠"]
    ]
    assert "0 / 1 通过" in html
    client.cookies.clear()


def test_an_unknown_version_is_not_found(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "operator")
    assert client.get("/console/policies/zj-cixi/1999.1").status_code == 404
    assert client.get("/console/policies/no-such/2026.1").status_code == 404
    client.cookies.clear()


def test_the_english_page(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "operator")
    client.cookies.set("luodi_lang", "en")
    html = client.get("/console/policies/zj-cixi/2026.1").text
    rows = table_rows(html, "rules-zj-cixi-2026.1")
    assert rows[5][:4] == [
        "Social insurance Evidence: 人社 社保缴费记录",
        "Basic",
        "Months of social insurance paid in Zhejiang × 0.5, at most 30 points",
        "30 points",
    ]
    assert rows[-1][1] == "Deduction"
    assert "Test cases" in html and "27 / 27 passed" in html
    for word in ("计分规则", "出处", "测试用例", "期望与实际", "施行中"):
        assert word not in html, word
    client.cookies.clear()


def test_the_policies_in_a_browser(
    pages_on_one_database: None, server: str, browser: Any, accounts: dict[str, Actor]
) -> None:
    page = browser.new_page()
    sign_in(page, server, "edu", PASSWORD)
    page.goto(f"{server}/console/policies")
    assert page.get_by_role("heading", level=1).inner_text() == "积分政策"
    check_page(page, "policies-index")
    page.get_by_role("link", name="2026.1 版").click()
    assert page.get_by_test_id("tests-summary").inner_text().startswith("27 / 27 通过")
    check_page(page, "policies-version")
    page.close()
