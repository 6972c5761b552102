"""``/my/entitlements`` and ``GET /api/v1/my/entitlements``: a resident finds every program of
the city for self and each own child (from the registry), with the missing conditions in
words; staff find no such page; nobody sees another's children."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.programs.catalog import load_programs
from luodi.programs.finder import PER_CHILD
from luodi.programs.repository import own_children, own_resident
from luodi.scoring import service as scoring_service
from tests.web.browser import check_page
from tests.web.browser import sign_in as sign_in_page
from tests.web.conftest import PASSWORD, sign_in
from tests.web.console.test_shell import page_client


@pytest.fixture(scope="module")
def family(small_city: Path) -> dict[str, Any]:
    """A parent of the city with registered children, and every child of the city by parent."""
    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    parent = children["id_number"][0]
    mine = children.filter(
        (pl.col("id_number") == parent) | (pl.col("second_parent_id_number") == parent)
    )
    return {"parent": parent, "children": mine["child_id_number"].to_list(), "all": children}


@pytest.fixture(scope="module")
def parent(loaded_engine: Engine, accounts: dict[str, Actor], family: dict[str, Any]) -> Actor:
    with session_scope(loaded_engine) as session:
        return auth_service.actor_of(
            auth_service.add_user(
                SYSTEM_ACTOR, session, "parent", "resident", PASSWORD, id_number=family["parent"]
            )
        )


@pytest.fixture(scope="module")
def found(client: TestClient, parent: Actor, cycle: dict[str, Any]) -> dict[str, Any]:
    """The parent's finder as the API answers it (a health-check cycle was allocated)."""
    client.cookies.clear()
    answer = client.get("/api/v1/my/entitlements", headers=sign_in(client, "parent"))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_every_program_for_self_and_each_own_child(
    found: dict[str, Any], family: dict[str, Any], loaded_engine: Engine
) -> None:
    programs = load_programs()
    for_self = sorted(pid for pid, (spec, _) in programs.items() if spec.kind not in PER_CHILD)
    for_child = sorted(pid for pid, (spec, _) in programs.items() if spec.kind in PER_CHILD)
    assert sorted(card["program"] for card in found["self"]["programs"]) == for_self
    assert len(found["children"]) == len(family["children"]) > 0
    for child in found["children"]:
        assert sorted(card["program"] for card in child["programs"]) == for_child
    for card in [
        *found["self"]["programs"],
        *[c for ch in found["children"] for c in ch["programs"]],
    ]:
        failed = [c["rule"] for c in card["conditions"] if c["state"] == "failed"]
        assert card["failed"] == sorted(failed)
        assert (card["standing"] == "eligible") is (card["eligible"] and not card["below_tiers"])
        if card["standing"] == "not_yet":
            assert all(c["gaps"] for c in card["conditions"] if c["state"] == "failed")
    # The health-check cycle was allocated, not final: no cycle open, judged as of today, and
    # no cut-off yet (last cycle's is its final run's, as the apply page reads it).
    health = next(c for c in found["self"]["programs"] if c["program"] == "health-check")
    assert health["cycle_id"] is None and health["cut_off"] is None


def test_a_childs_card_carries_none_of_the_other_parents_numbers(
    client: TestClient, parent: Actor, found: dict[str, Any], loaded_engine: Engine
) -> None:
    """A child's points on the page and in the API are the signed-in parent's own; a gap the
    other parent would close has no number in either."""
    with session_scope(loaded_engine) as session:
        me = own_resident(session, parent)
        assert me is not None
        kids = own_children(session, me)
        others = sorted(
            {*kids["parent_id"].drop_nulls(), *kids["second_parent_id"].drop_nulls()} - {me}
        )
        scores = scoring_service.stored_scores(
            SYSTEM_ACTOR, session, [me, *others], policy_id="zj-cixi"
        ).frame
    points = dict(zip(scores["resident_id"], scores["points"], strict=True))
    mine = points.get(me)
    theirs = {points[o] for o in others if o in points} - {mine}
    page = page_client(client, "parent").get("/my/entitlements").text
    for child in found["children"]:
        for card in child["programs"]:
            if card["kind"] != "entitlement" and card["reason_zh"] is None:
                assert card["points"] == mine
            for condition in [*card["conditions"], card["below_tiers"] or {"gaps": []}]:
                for gap in condition["gaps"]:
                    if not gap["own"]:
                        numbers = (gap["current"], gap["needed"], gap["missing"], gap["met_on"])
                        assert numbers == (None,) * 4
    for value in theirs:
        assert f"积分 {value:g}" not in page
        assert all(card["points"] != value for ch in found["children"] for card in ch["programs"])


def test_the_page_names_the_missing_conditions(
    client: TestClient, parent: Actor, found: dict[str, Any]
) -> None:
    page = page_client(client, "parent").get("/my/entitlements")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="program-health-check"' in text
    assert text.count('data-testid="subject-child-') == len(found["children"])
    programs = load_programs()
    for card in found["self"]["programs"]:
        spec = programs[card["program"]][0]
        for rule in spec.eligibility:
            if rule.id in card["failed"]:
                assert f'data-testid="missing-{rule.id}"' in text and rule.label.zh in text


def test_staff_find_no_such_page(client: TestClient, accounts: dict[str, Actor]) -> None:
    for username in ("operator", "edu"):
        assert page_client(client, username).get("/my/entitlements").status_code == 404
        client.cookies.clear()
        headers = sign_in(client, username)
        assert client.get("/api/v1/my/entitlements", headers=headers).status_code == 404
    client.cookies.clear()
    assert client.get("/api/v1/my/entitlements").status_code in (401, 404)


def test_a_resident_sees_only_own_children(
    client: TestClient, accounts: dict[str, Actor], family: dict[str, Any], found: dict[str, Any]
) -> None:
    other = page_client(client, "resident").get("/my/entitlements")
    assert other.status_code == 200
    # The parent's children are the parent's only: another resident's page has none of them.
    for child in found["children"]:
        assert f'data-testid="subject-child-{child["child_id"]}"' not in other.text


@pytest.mark.browser
def test_the_finder_in_a_browser(
    pages_on_one_database: None, server: str, browser: Any, parent: Actor, found: dict[str, Any]
) -> None:
    """On a phone: a card per program with its standing in words, each child's section; the
    English switch and 长辈版 (the met conditions hidden); axe-core clean, no sideways scroll."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in_page(page, server, "parent", PASSWORD)
    page.goto(f"{server}/my/entitlements")
    expect(page.get_by_role("heading", level=1)).to_have_text("可享待遇")
    health = page.get_by_test_id("subject-self").get_by_test_id("program-health-check")
    expect(health.get_by_test_id("standing")).to_be_visible()
    card = next(c for c in found["self"]["programs"] if c["program"] == "health-check")
    for condition in card["conditions"]:
        if condition["state"] == "failed":
            expect(health.get_by_test_id(f"missing-{condition['rule']}")).to_contain_text(
                condition["label_zh"]
            )
    expect(page.locator('[data-testid^="subject-child-"]')).to_have_count(len(found["children"]))
    check_page(page, "portal-entitlements")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What I can get")
    page.get_by_role("link", name="中文").click()
    page.get_by_test_id("large-text").click()
    expect(page.locator("body")).to_have_class(re.compile("large-text"))
    expect(page.locator(".entitlement details.secondary").first).to_be_hidden()
    check_page(page, "portal-entitlements-larger-text")
    page.get_by_test_id("large-text").click()
    expect(page.locator("body")).not_to_have_class(re.compile("large-text"))
    page.close()
