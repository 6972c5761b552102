"""The console's residents area: search by name, ID number (whole, part, masked form) and
phone suffix with paging in SQL; a town's staff reach their own town only (another town's
resident is 404); register and correct through the forms (errors kept in the form, every
change audited); the resident's record with the explanation of each score line; one
language at a time; and the pages in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, select

from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.kernels.masking import mask_id_number
from luodi.policy.service import find_policy
from luodi.registry import repository
from luodi.registry.service import SEARCH_PAGE
from luodi.scoring import service as scoring_service
from luodi.web import i18n
from tests.factories import id_number
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.console.test_shell import page_client

pytestmark = pytest.mark.usefixtures("accounts")

_cookies: dict[str, dict[str, str]] = {}
"""Each user's cookies once signed in on the module's client (of the database in use)."""


@pytest.fixture(scope="module", autouse=True)
def _sign_ins_per_database(client: TestClient) -> Iterator[None]:
    _cookies.clear()
    yield
    _cookies.clear()


def as_user(client: TestClient, username: str) -> TestClient:
    """The client signed in as ``username`` through the login form, once per database
    (signing in hashes a password: a second each); later calls put its cookies back."""
    if username not in _cookies:
        page_client(client, username)
        _cookies[username] = dict(client.cookies.items())
    client.cookies.clear()
    for name, value in _cookies[username].items():
        client.cookies.set(name, value)
    return client


@pytest.fixture(scope="module")
def runs(loaded_engine: Engine) -> list[int]:
    """Two scoring runs of the city (the second on a later date): a score history of two."""
    ids = []
    with session_scope(loaded_engine) as session:
        for as_of in (AS_OF, date(2026, 4, 1)):
            policy = find_policy("zj-cixi", as_of)
            ids.append(scoring_service.score_registry(SYSTEM_ACTOR, session, policy, as_of).run.id)
    return ids


def resident_id(engine: Engine, number: str) -> int:
    with session_scope(engine) as session:
        found = repository.id_number_resident(session, number)
    assert found is not None
    return found


def visible_text(html: str) -> str:
    """The page's text as read (no tags, scripts or attributes)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def listed_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'href="/console/residents/(\d+)"', html)]


@pytest.fixture(scope="module")
def first_town(city: pl.DataFrame, accounts: dict[str, Actor]) -> pl.DataFrame:
    """The residents of the town the ``town`` account works in, who have a phone."""
    town = accounts["town"].town_code
    return city.filter(pl.col("town_code") == town, pl.col("phone").is_not_null())


@pytest.fixture(scope="module")
def scored(loaded_engine: Engine, first_town: pl.DataFrame, runs: list[int]) -> tuple[int, str]:
    """(id, ID number) of a resident of the ``town`` account's town scored in both runs."""
    with session_scope(loaded_engine) as session:
        both = set.intersection(
            *(
                set(scoring_service.run_totals(SYSTEM_ACTOR, session, run)["resident_id"])
                for run in runs
            )
        )
    for number in first_town["id_number"]:
        rid = resident_id(loaded_engine, number)
        if rid in both:
            return rid, number
    raise AssertionError("nobody of the town was scored in both runs")


# ------------------------------------------------------------------------------------- search


def test_search_by_name_finds_the_resident_and_shows_ids_masked(
    client: TestClient, loaded_engine: Engine, first_town: pl.DataFrame
) -> None:
    person = first_town.row(0, named=True)
    as_user(client, "operator")
    answer = client.get("/console/residents", params={"name": person["name"]})
    assert answer.status_code == 200
    assert resident_id(loaded_engine, person["id_number"]) in listed_ids(answer.text)
    assert mask_id_number(person["id_number"]) in answer.text
    assert person["id_number"] not in answer.text
    assert person["phone"] not in answer.text  # masked too


@pytest.mark.parametrize(
    "typed",
    [
        lambda number: number,  # whole
        lambda number: number[-4:],  # last 4
        lambda number: number[:6],  # first 6
        lambda number: mask_id_number(number),  # the masked form shown in lists
        lambda number: f"{number[:6]}*{number[-4:]}",  # first digits and last 4
        lambda number: f" {number[:6]}＊＊{number[-4:].lower()} ",  # full-width stars, x
    ],
    ids=["whole", "last-4", "first-6", "masked", "first-and-last", "loosely-typed"],
)
def test_search_by_id_number_whole_part_or_masked(
    client: TestClient, loaded_engine: Engine, first_town: pl.DataFrame, typed: Any
) -> None:
    person = first_town.row(1, named=True)
    as_user(client, "operator")
    answer = client.get("/console/residents", params={"id_number": typed(person["id_number"])})
    assert answer.status_code == 200, answer.text
    found = listed_ids(answer.text)
    assert resident_id(loaded_engine, person["id_number"]) in found


def test_a_whole_id_number_finds_one_and_a_masked_form_matches_by_position(
    client: TestClient, city: pl.DataFrame
) -> None:
    as_user(client, "operator")
    number = city["id_number"][5]
    assert len(listed_ids(client.get(f"/console/residents?id_number={number}").text)) == 1
    masked = mask_id_number(number)
    shown = client.get("/console/residents", params={"id_number": masked}).text
    expected = city.filter(
        pl.col("id_number").str.starts_with(number[:2]),
        pl.col("id_number").str.ends_with(number[-3:]),
    ).height
    assert f'data-total="{expected}"' in shown


def test_search_by_phone_suffix(
    client: TestClient, loaded_engine: Engine, first_town: pl.DataFrame, city: pl.DataFrame
) -> None:
    person = first_town.row(2, named=True)
    suffix = person["phone"][-4:]
    as_user(client, "operator")
    answer = client.get("/console/residents", params={"phone": suffix})
    assert resident_id(loaded_engine, person["id_number"]) in listed_ids(answer.text)
    expected = city.filter(pl.col("phone").str.ends_with(suffix)).height
    assert f'data-total="{expected}"' in answer.text


def test_terms_combine_and_a_town_filter_narrows(
    client: TestClient, city: pl.DataFrame, accounts: dict[str, Actor]
) -> None:
    town = accounts["town2"].town_code
    as_user(client, "operator")
    answer = client.get("/console/residents", params={"town_code": town})
    expected = city.filter(pl.col("town_code") == town).height
    assert f'data-total="{expected}"' in answer.text
    assert 'id="town_code"' in answer.text  # the filter is there for who sees every town
    nobody = client.get("/console/residents", params={"town_code": town, "name": "不存在的人名"})
    assert 'data-total="0"' in nobody.text
    wildcard = client.get("/console/residents", params={"name": "%"})  # a literal %, not "any"
    assert 'data-total="0"' in wildcard.text


def test_a_search_that_cannot_match_says_why_at_its_field_and_keeps_the_input(
    client: TestClient,
) -> None:
    as_user(client, "operator")
    answer = client.get("/console/residents", params={"id_number": "12", "phone": "12a"})
    assert answer.status_code == 422
    assert 'href="#id_number"' in answer.text and 'href="#phone"' in answer.text
    assert 'value="12a"' in answer.text
    assert "至少输入 4 位号码" in answer.text


def test_paging_is_in_sql_with_a_count(client: TestClient, city: pl.DataFrame) -> None:
    as_user(client, "operator")
    first = client.get("/console/residents").text
    assert f'data-total="{city.height}"' in first
    pages = -(-city.height // SEARCH_PAGE)
    assert f"第 1 / {pages} 页" in visible_text(first)
    one = listed_ids(first)
    two = listed_ids(client.get("/console/residents?page=2").text)
    assert len(one) == len(two) == SEARCH_PAGE
    assert max(one) < min(two)  # in id order, no row twice
    last = listed_ids(client.get(f"/console/residents?page={pages}").text)
    assert len(last) == city.height - (pages - 1) * SEARCH_PAGE
    kept = client.get("/console/residents?name=张").text
    assert "name=%E5%BC%A0&amp;page=2" in kept or "下一页" not in kept


# ------------------------------------------------------------------------------------ scope


def test_town_staff_see_their_own_town_only(
    client: TestClient, loaded_engine: Engine, city: pl.DataFrame, accounts: dict[str, Actor]
) -> None:
    own = accounts["town2"].town_code
    other = city.filter(pl.col("town_code") == accounts["town"].town_code).row(0, named=True)
    as_user(client, "town2")
    listing = client.get("/console/residents")
    assert f'data-total="{city.filter(pl.col("town_code") == own).height}"' in listing.text
    assert 'id="town_code"' not in listing.text  # one town: no filter
    assert resident_id(loaded_engine, other["id_number"]) not in listed_ids(listing.text)
    searched = client.get("/console/residents", params={"id_number": other["id_number"]})
    assert 'data-total="0"' in searched.text
    theirs = resident_id(loaded_engine, other["id_number"])
    for path in (f"/console/residents/{theirs}", f"/console/residents/{theirs}/edit"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "没有这个页面" in answer.text
    refused = client.post(
        f"/console/residents/{theirs}",
        data={"name": "改名", "csrf_token": client.cookies.get("luodi_csrf")},
    )
    assert refused.status_code == 404
    shown = client.post(
        f"/console/residents/{theirs}/id-number",
        data={"csrf_token": client.cookies.get("luodi_csrf")},
    )
    assert shown.status_code == 404 and other["id_number"] not in shown.text


def test_a_role_without_the_area_gets_404(client: TestClient) -> None:
    as_user(client, "edu")
    assert client.get("/console/residents").status_code == 404


# ------------------------------------------------------------------------- register, correct


def audit_actions(engine: Engine, object_id: int) -> list[str]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_type == "resident", AuditEntry.object_id == str(object_id))
                .order_by(AuditEntry.seq)
            )
        )


def test_register_and_correct_in_the_own_town(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor], first_town: pl.DataFrame
) -> None:
    as_user(client, "town")
    form = client.get("/console/residents/new")
    assert form.status_code == 200
    town = accounts["town"].town_code
    # Town choices in words, and only the own town.
    assert re.findall(r'<option value="(\d+)"', form.text) == [town]
    token = client.cookies.get("luodi_csrf")
    good = id_number("330282", date(1991, 2, 3), 517)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    refused = client.post(
        "/console/residents",
        data={
            "id_number": bad,
            "name": " ",
            "phone": "12345",
            "town_code": town,
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    for field in ("id_number", "name", "phone"):
        assert f'href="#{field}"' in refused.text, field
    assert f'value="{bad}"' in refused.text and 'value="12345"' in refused.text
    assert "校验码" in refused.text  # GB 11643's check character, said plainly
    taken = client.post(
        "/console/residents",
        data={
            "id_number": first_town["id_number"][0],
            "name": "王五",
            "town_code": town,
            "csrf_token": token,
        },
    )
    assert taken.status_code == 422 and "已登记" in taken.text
    registered = client.post(
        "/console/residents",
        data={
            "id_number": good,
            "name": "王小明",
            "phone": "13912345678",
            "town_code": town,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert registered.status_code == 303, registered.text
    new_id = resident_id(loaded_engine, good)
    assert registered.headers["location"] == f"/console/residents/{new_id}"
    page = client.get(registered.headers["location"])
    assert 'data-testid="flash"' in page.text and "已登记居民 王小明" in page.text

    edit = client.get(f"/console/residents/{new_id}/edit")
    assert 'value="王小明"' in edit.text and "13912345678" not in edit.text
    kept = client.post(
        f"/console/residents/{new_id}",
        data={"name": "", "phone": "139", "town_code": town, "csrf_token": token},
    )
    assert kept.status_code == 422
    assert 'href="#name"' in kept.text and 'value="139"' in kept.text
    corrected = client.post(
        f"/console/residents/{new_id}",
        data={"name": "王晓明", "phone": "", "town_code": town, "csrf_token": token},
        follow_redirects=False,
    )
    assert corrected.status_code == 303
    after = client.get(corrected.headers["location"]).text
    assert "已更正居民信息" in after and "王晓明" in after
    assert "139****5678" in after  # a blank phone kept the registered one
    assert audit_actions(loaded_engine, new_id) == ["resident.add", "resident.correct"]


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    as_user(client, "town")
    answer = client.post("/console/residents", data={"id_number": "1", "name": "x"})
    assert answer.status_code == 403


def test_a_reader_who_sees_numbers_masked_finds_by_the_whole_number_only(
    client: TestClient, first_town: pl.DataFrame
) -> None:
    """An auditor sees 33*************12X: a search over the hidden positions would reveal
    them a guess at a time, so only the whole number (or a phone's last four) is taken."""
    person = first_town.row(1, named=True)
    number = person["id_number"]
    as_user(client, "auditor")
    whole = client.get("/console/residents", params={"id_number": number})
    assert whole.status_code == 200 and mask_id_number(number) in whole.text
    for guess in (
        number[6:14],
        number[:6] + "*" + number[-4:],
        number[:2] + "*" * 13 + number[-3:],
    ):
        refused = client.get("/console/residents", params={"id_number": guess})
        assert refused.status_code == 422, guess
        assert "请输入完整的 18 位号码" in refused.text
    assert client.get("/console/residents", params={"phone": "13800"}).status_code == 422
    as_user(client, "operator")  # a registrar searches by any part
    assert client.get("/console/residents", params={"id_number": number[6:14]}).status_code == 200


def test_the_whole_id_number_for_the_towns_registrar_only_and_audited(
    client: TestClient, loaded_engine: Engine, first_town: pl.DataFrame
) -> None:
    number = first_town["id_number"][3]
    rid = resident_id(loaded_engine, number)
    as_user(client, "auditor")
    page = client.get(f"/console/residents/{rid}").text
    assert number not in page and 'data-testid="show-id"' not in page
    assert "完整号码只向本镇街的登记人员显示" in page
    assert 'data-testid="correct"' not in page  # an auditor changes nothing
    assert 'data-testid="register"' not in client.get("/console/residents").text
    assert client.get("/console/residents/new").status_code == 403
    assert (
        client.post(
            f"/console/residents/{rid}/id-number",
            data={"csrf_token": client.cookies.get("luodi_csrf")},
        ).status_code
        == 403
    )
    as_user(client, "town")
    page = client.get(f"/console/residents/{rid}").text
    assert number not in page and 'data-testid="show-id"' in page
    shown = client.post(
        f"/console/residents/{rid}/id-number",
        data={"csrf_token": client.cookies.get("luodi_csrf")},
        headers={"HX-Request": "true"},
    )
    assert shown.status_code == 200 and number in shown.text and "<html" not in shown.text
    assert audit_actions(loaded_engine, rid)[-1:] == ["resident.show_id_number"]


# ------------------------------------------------------------------------------ the record


def test_the_record_shows_the_time_line_facts_and_each_explained_line(
    client: TestClient, loaded_engine: Engine, scored: tuple[int, str], runs: list[int]
) -> None:
    rid = scored[0]
    with session_scope(loaded_engine) as session:
        history = scoring_service.score_history(SYSTEM_ACTOR, session, rid)
        first = scoring_service.resident_score(SYSTEM_ACTOR, session, rid, runs[0])
    assert [item.run.id for item in history] == runs[::-1]
    as_user(client, "town")
    page = client.get(f"/console/residents/{rid}").text
    assert 'data-testid="permits"' in page and 'data-testid="span"' in page
    assert 'data-testid="score-history"' in page
    for run in runs:
        assert f"?run={run}#scores" in page or f"第 {run} 批</span>" in page
    chosen = client.get(f"/console/residents/{rid}?run={runs[0]}").text
    lines = re.findall(r'data-indicator="([a-z_0-9]+)"', chosen)
    assert lines == [line["indicator"] for line in first.explanation["lines"]]
    assert f'data-testid="explained-total">{first.total:g}' in chosen.replace(",", "")
    assert "/console/feeds/batches/" in chosen  # a line cites the batch it read
    assert re.search(r"第 \d+ 行", visible_text(chosen))
    assert client.get(f"/console/residents/{rid}?run=999999").status_code == 404


def test_the_household_lists_members_and_children(
    client: TestClient, loaded_engine: Engine, small_city: Any
) -> None:
    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    child = children.row(0, named=True)
    rid = resident_id(loaded_engine, child["id_number"])
    as_user(client, "operator")
    page = client.get(f"/console/residents/{rid}").text
    assert 'data-testid="children"' in page and 'data-testid="members"' in page
    assert child["child_name"] in page and mask_id_number(child["child_id_number"]) in page
    assert child["household_number"] in page


def test_the_english_pages_carry_no_chinese_labels(
    client: TestClient, scored: tuple[int, str]
) -> None:
    rid = scored[0]
    as_user(client, "town")
    client.cookies.set("luodi_lang", "en")
    labels = [
        message
        for message, where in i18n.used_messages().items()
        if ("residents" in where) and len(message) >= 3 and "%(" not in message
    ]
    assert len(labels) > 30
    try:
        for path in (
            "/console/residents?name=张",
            f"/console/residents/{rid}",
            "/console/residents/new",
            "/console/residents?id_number=12",
        ):
            text = visible_text(client.get(path).text)
            assert "ID number" in text, path
            left = [label for label in labels if label in text]
            assert left == [], (path, left)
    finally:
        client.cookies.delete("luodi_lang")


# ----------------------------------------------------------------------------- the browser


def test_the_residents_pages_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    first_town: pl.DataFrame,
    runs: list[int],
) -> None:
    person = first_town.row(0, named=True)
    page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    sign_in(page, server, "town", PASSWORD)
    page.goto(f"{server}/console/residents")
    check_page(page, "residents-list")
    page.get_by_label("姓名").fill(person["name"])
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name=person["name"]).first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(person["name"])
    page.get_by_test_id("feed-education").locator("summary").click()
    check_page(page, "residents-resident")
    page.get_by_test_id("show-id").click()
    page.get_by_text(person["id_number"]).wait_for()
    page.goto(f"{server}/console/residents/new")
    page.get_by_label("身份证号").fill("330282199102035170")
    page.get_by_role("button", name="登记").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    check_page(page, "residents-form")
    assert not failed, failed
    page.close()
