"""What a notice says, read as the public reads it, on SQLite and PostgreSQL: one notice of
each program kind (录取结果, 配租结果, 核准名单 with and without amounts), its HTML page and
the text of its PDF — the title, the outcome words, the amount of a tiered benefit, the
town's name (never its code), the lottery number in the PDF as on the page, and short public
reason codes (条件不符：社保), never a person's facts."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.notices import reasons
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import demo, intake
from luodi.programs import service as programs
from luodi.programs.catalog import find_program
from luodi.programs.models import Application
from luodi.programs.numbers import parse_application_number
from luodi.registry.models import Resident, Town
from luodi.scoring import service as scoring
from tests.web.conftest import AS_OF
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client as signed_in

DIGIT = re.compile(r"\d")


class NoticeTable(HTMLParser):
    """The title and the rows table (``notice-rows``) of a notice page, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._in_title = self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h1" and found.get("data-testid") == "notice-title":
            self._in_title = True
        if tag == "table" and "notice-rows" in (found.get("class") or ""):
            self._in_table = True
        if self._in_table and tag == "tr":
            self.rows.append([])
        if self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_title = False
        if tag == "table":
            self._in_table = False
        if self._in_table and tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if tag == "th":
                self.header.append(text)
            else:
                self.rows[-1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.append(data)


def read_page(client: TestClient, notice_id: int) -> tuple[str, pl.DataFrame]:
    response = client.get(f"/notices/{notice_id}")
    assert response.status_code == 200, response.text
    table = NoticeTable()
    table.feed(response.text)
    rows = [row for row in table.rows if row]
    return table.title.strip(), pl.DataFrame(rows, schema=table.header, orient="row")


def read_pdf(client: TestClient, notice_id: int) -> str:
    response = client.get(f"/api/v1/notices/{notice_id}/pdf")
    assert response.status_code == 200
    pages = pypdf.PdfReader(io.BytesIO(response.content)).pages
    return "".join("".join(page.extract_text().replace("\x00", "").split()) for page in pages)


def check_reasons(page: pl.DataFrame, allowed: set[str]) -> None:
    """Every 说明 is a short code: a fixed word or 条件不符：<codes>, with no digit (no months,
    points or dates of a person)."""
    for reason in page["说明"].unique().to_list():
        if reason:
            assert not DIGIT.search(reason), reason
            assert reason in allowed or reason.startswith("条件不符："), reason


@pytest.fixture(scope="module")
def published(loaded_engine: Engine, small_city: Path) -> dict[str, Any]:
    """One published notice per program kind, on one scoring run."""
    today = date.today()
    window = (today - timedelta(days=1), today + timedelta(days=1), AS_OF)
    made: dict[str, Any] = {}
    with session_scope(loaded_engine) as session:
        run_id = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id
        cycles = {
            "school": (
                "school-entry",
                demo.school_applications(small_city, AS_OF.year).to_dicts(),
                {"targets_file": small_city / "schools.csv", "entry_grade": 1},
            ),
            "housing": (
                "public-rental",
                demo.housing_applications(small_city, share=0.05).to_dicts(),
                {"targets_file": small_city / "housing_units.csv"},
            ),
            "quota": (
                "health-check",
                demo.benefit_applications(small_city, 40).to_dicts(),
                {"places": 5},
            ),
            "tiered": (
                "loan",
                # Each agrees that the bank receives the application (loan.yaml bank_consent).
                demo.benefit_applications(small_city, 40, seed=5)
                .with_columns(bank_consent=pl.lit(True))
                .to_dicts(),
                {},
            ),
        }
        for kind, (program, records, options) in cycles.items():
            cycle = programs.open_cycle(
                SYSTEM_ACTOR, session, program, "公示页", *window, **options
            )
            intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
            intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
            run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "page", run_id)
            if kind == "housing":  # 住建部令第11号: the qualified list first, then 配租
                qualified = notices.publish(
                    SYSTEM_ACTOR, session, allocation_run_id=run.id, qualification=True
                )
                notices.finalize(
                    SYSTEM_ACTOR, session, qualified.id, today=qualified.ends_on + timedelta(days=1)
                )
            made[kind] = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run.id).id
        made["towns"] = dict(session.execute(select(Town.code, Town.name)).all())
    return made


def check_towns(page: pl.DataFrame, towns: dict[str, str]) -> None:
    shown = {town for town in page["镇街"].to_list() if town}
    assert shown and shown <= set(towns.values())
    assert not shown & set(towns)


def test_a_school_notice_says_admitted_with_the_town_and_the_lottery_number(
    client: TestClient, published: dict[str, Any]
) -> None:
    title, page = read_page(client, published["school"])
    assert title.endswith("录取结果公示")
    assert {"录取学校", "镇街", "志愿", "摇号号码", "说明"} <= set(page.columns)
    outcomes = set(page["结果"])
    assert "录取" in outcomes and outcomes <= {"录取", "未录取"}
    check_towns(page.filter(pl.col("结果") == "录取"), published["towns"])
    check_reasons(page, set(reasons.FIXED_CODES.values()))
    # The priority group by the program's word for it, not its number.
    groups = {group.label.zh for group in find_program("school-entry")[0].groups}
    shown_groups = set(page["类别"].drop_nulls()) - {""}  # blank: not ranked (not eligible)
    assert shown_groups and shown_groups <= groups
    unplaced = page.filter(pl.col("结果") == "未录取")
    assert (unplaced["说明"] != "").all()
    shown = read_pdf(client, published["school"])
    numbers = [n for n in page["摇号号码"].to_list() if n]
    assert numbers and max(len(n) for n in numbers) >= 15
    for number in numbers[:30]:
        assert number in shown
    assert "录取结果公示" in shown


def test_a_housing_notice_says_let_or_waiting_by_project(
    client: TestClient, published: dict[str, Any]
) -> None:
    title, page = read_page(client, published["housing"])
    assert title.endswith("配租结果公示")
    assert {"项目及房型", "房号", "志愿（项目）", "镇街"} <= set(page.columns)
    assert "配租" in set(page["结果"]) and set(page["结果"]) <= {"配租", "轮候", "不予配租"}
    check_towns(page.filter(pl.col("结果") == "配租"), published["towns"])
    check_reasons(page, {"房源已配完", "无适合房型"})
    shown = read_pdf(client, published["housing"])
    assert "配租结果公示" in shown
    for number in [n for n in page["摇号号码"].to_list() if n][:20]:
        assert number in shown
    # Which flat: the project with its layout and the flat number, whole, as on the page.
    for target, unit in (
        page.filter(pl.col("结果") == "配租").select("项目及房型", "房号").head(10).rows()
    ):
        assert target.replace(" ", "") in shown and unit in shown


def test_a_quota_notice_says_approved_or_full_or_which_condition(
    client: TestClient, published: dict[str, Any]
) -> None:
    title, page = read_page(client, published["quota"])
    assert title.endswith("核准名单公示")
    assert set(page["结果"]) <= {"核准", "未核准"}
    assert 0 < page.filter(pl.col("结果") == "核准").height <= 5
    check_reasons(page, {"名额已满"})
    refused = set(page.filter(pl.col("结果") == "未核准")["说明"])
    # The health check's own conditions, by their public words only.
    assert refused and all(
        r == "名额已满"
        or set(r.removeprefix("条件不符：").split("、")) <= {"居住证", "一线职工", "镇街"}
        for r in refused
    ), refused
    shown = read_pdf(client, published["quota"])
    assert "核准名单公示" in shown
    for reason in refused:
        assert reason in shown


def test_a_tiered_notice_says_approved_with_the_amount(
    client: TestClient, published: dict[str, Any]
) -> None:
    """新市民贷: 核准 with the amount of the points band, on the page and in the PDF as the
    page writes it."""
    title, page = read_page(client, published["tiered"])
    assert title.endswith("核准名单公示")
    assert "核准金额" in page.columns and "摇号号码" not in page.columns
    granted = page.filter(pl.col("结果") == "核准")
    refused = page.filter(pl.col("结果") == "未核准")
    assert granted.height >= 1 and refused.height >= 1 and page.height == 40
    bands = {"200,000", "100,000", "50,000"}
    assert set(granted["核准金额"]) <= bands and set(refused["核准金额"]) == {""}
    check_reasons(page, {"未达最低档"})
    for reason in set(refused["说明"]):
        codes = reason.removeprefix("条件不符：").split("、")
        assert reason == "未达最低档" or set(codes) <= {"就业", "信用", "居住证"}, reason
    shown = read_pdf(client, published["tiered"])
    assert "核准名单公示" in shown and ".0" not in shown.split("名单摘要")[0]
    for amount in set(granted["核准金额"]):
        assert amount in shown
    assert "200000.0" not in shown and "50000.0" not in shown


# --- search, the resident's own rows, paging -----------------------------------------------


def page_client(client: TestClient, username: str | None) -> TestClient:
    """The client signed in through the login form as ``username`` (None: signed out)."""
    if username is None:
        client.cookies.clear()
        return client
    return signed_in(client, username)


def applicant_of(engine: Engine, ref: str) -> tuple[str, str]:
    """(full name, ID number) of the applicant of the application ``ref`` (its id or, as a
    cycle's notice shows it, its 受理编号)."""
    with session_scope(engine) as session:
        found = session.execute(
            select(Resident.name, Resident.id_number)
            .join(Application, Application.resident_id == Resident.id)
            .where(Application.id == (parse_application_number(ref) or int(ref)))
        ).one()
        return found[0], found[1]


def shown_refs(html: str) -> list[str]:
    table = NoticeTable()
    table.feed(html)
    return [row[0].split()[0] for row in table.rows if row]


def test_a_notice_is_searched_by_number_or_by_masked_name_and_last_four(
    client: TestClient, published: dict[str, Any], loaded_engine: Engine
) -> None:
    notice_id = published["quota"]
    page_client(client, None)
    _title, page = read_page(client, notice_id)
    wanted = page.row(3, named=True)
    ref = wanted["申请编号"]
    name, number = applicant_of(loaded_engine, ref)
    assert shown_refs(client.get(f"/notices/{notice_id}", params={"q": ref}).text) == [ref]
    for typed in (f"{name} {number[-4:]}", f"{wanted['申请人']} {number[-4:]}", f"{name} {number}"):
        answer = client.get(f"/notices/{notice_id}", params={"q": typed})
        assert answer.status_code == 200
        assert ref in shown_refs(answer.text)
        # What was typed comes back masked: never the full ID number, nor the full name.
        assert (
            number not in answer.text and f'value="{wanted["申请人"]} {number[-4:]}"' in answer.text
        )
        assert name not in answer.text or len(name) == 1
    # The last four alone name an application number, never people whose IDs end so.
    alone = client.get(f"/notices/{notice_id}", params={"q": number[-4:]}).text
    assert set(shown_refs(alone)) <= {number[-4:]}
    wrong = str((int(number[-4]) + 1) % 10) + number[-3:]
    missed = client.get(f"/notices/{notice_id}", params={"q": f"{name} {wrong}"}).text
    assert ref not in shown_refs(missed) and 'data-testid="search-count"' in missed
    refused = client.get(f"/notices/{notice_id}", params={"q": "<b>?"})
    assert refused.status_code == 200 and 'data-testid="error-summary"' in refused.text
    # The API takes the same search, masked rows only.
    api = client.get(f"/api/v1/notices/{notice_id}", params={"q": f"{name} {number}"}).json()
    stored_ref = str(parse_application_number(ref))  # the page shows the 受理编号 of the ref
    assert stored_ref in [row["ref"] for row in api["results"]] and api["total"] >= 1
    assert number not in str(api) and "id_tail" not in api["results"][0]


def test_a_notice_is_paged_in_sql_and_its_search_keeps_the_pages(
    client: TestClient, published: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.web import pages

    page_client(client, None)
    notice_id = published["tiered"]
    _title, whole = read_page(client, notice_id)
    monkeypatch.setattr(pages, "PAGE_ROWS", 15)
    second = client.get(f"/notices/{notice_id}", params={"page": 2}).text
    assert shown_refs(second) == whole["申请编号"].to_list()[15:30]
    assert f'href="/notices/{notice_id}?page=3"' in second
    last = client.get(f"/notices/{notice_id}", params={"page": 99}).text
    assert shown_refs(last) == whole["申请编号"].to_list()[30:]


def test_the_list_of_notices_is_filtered_by_program_and_state_and_paged(
    client: TestClient, published: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.web import pages

    page_client(client, None)
    loan = table_rows(client.get("/notices", params={"program": "loan"}).text, "notice-list")
    assert [row[0] for row in loan] == [str(published["tiered"])]
    final = table_rows(client.get("/notices", params={"status": "final"}).text, "notice-list")
    assert final and all(row[3] == "已确定" for row in final)
    open_now = table_rows(client.get("/notices", params={"status": "open"}).text, "notice-list")
    assert str(published["school"]) in [row[0] for row in open_now]
    assert all(row[3] == "公示中" for row in open_now)
    monkeypatch.setattr(pages, "PAGE_NOTICES", 2)
    first = client.get("/notices").text
    assert len(table_rows(first, "notice-list")) == 2 and 'href="/notices?page=2"' in first
    titled = client.get("/notices", params={"q": "核准名单", "page": 1}).text
    assert all("核准名单" in row[1] for row in table_rows(titled, "notice-list"))


def test_only_the_resident_s_own_row_is_marked_and_carries_the_objection_form(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Any], cycle: dict[str, Any]
) -> None:
    with session_scope(loaded_engine) as session:
        notice_id = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"]).id
    mine, other = str(cycle["mine"]), str(cycle["other"])
    for username in (None, "operator", "town"):
        seen = page_client(client, username).get(f"/notices/{notice_id}").text
        assert 'data-testid="own-rows"' not in seen and 'class="own"' not in seen
        assert "/objections" not in seen
    page = page_client(client, "resident").get(f"/notices/{notice_id}").text
    assert f'data-testid="own-row-{mine}"' in page
    assert page.count('class="own"') == 1 and f'<tr id="ref-{mine}" class="own"' in page
    assert page.count(f'action="/notices/{notice_id}/objections"') == 1
    assert f'name="row" value="{mine}"' in page and f'name="row" value="{other}"' not in page
    # The server checks the row too: another's row is "not found", the own row is taken.
    token = client.cookies.get("luodi_csrf")
    others = client.post(
        f"/notices/{notice_id}/objections",
        data={"row": other, "reason": "不是我的", "csrf_token": token},
        follow_redirects=False,
    )
    assert others.status_code == 404
    assert 'data-testid="objection-error"' in others.text and "不是我的" not in others.text
    blank = client.post(
        f"/notices/{notice_id}/objections",
        data={"row": mine, "reason": "   ", "csrf_token": token},
        follow_redirects=False,
    )
    # Refused at the row's own form, open, with the error and the reason as typed.
    assert blank.status_code == 422 and 'data-testid="objection-error"' in blank.text
    assert f'data-testid="objection-{mine}" open' in blank.text
    kept = client.post(
        f"/notices/{notice_id}/objections",
        data={"row": mine, "reason": "x" * 10 + "\u0007", "csrf_token": token},
        follow_redirects=False,
    )
    assert kept.status_code == 422 and ">" + "x" * 10 in kept.text
    own = client.post(
        f"/notices/{notice_id}/objections",
        data={"row": mine, "reason": "社保月数有误", "csrf_token": token},
        follow_redirects=False,
    )
    assert own.status_code == 303 and own.headers["location"].startswith("/my#objection-")
    client.cookies.clear()
