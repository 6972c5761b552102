"""The console's feeds area: a department's file is checked (a dry run listing the accepted
and refused rows, every refusal as XLSX), then confirmed and imported by the service's rule;
batches keep their provenance. Scoped: another department's feed and batch are not there,
another account's upload cannot be confirmed."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, func, select

from luodi.app import create_app
from luodi.auth.actor import Actor
from luodi.db import session_scope
from luodi.facts.models import Fact
from luodi.feeds import uploads
from luodi.feeds.models import FeedBatch
from luodi.jobs import worker
from luodi.settings import get_settings
from luodi.web.console import feeds as feeds_pages
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client

Pages = Callable[[str], TestClient]
HEADERS = ("身份证号", "最高学历", "职业技能等级")
BAD_ROWS = 60
"""More than a page lists (``feeds_pages.LISTED``): the XLSX must still hold every one."""


@pytest.fixture(scope="module", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory of the module's own (where uploads wait for their import)."""
    folder = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUODI_DATA_DIR", str(folder))
        get_settings.cache_clear()
        yield folder
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def pages(loaded_engine: Engine, accounts: dict[str, Actor]) -> Iterator[Pages]:
    """A browser-like client per account, signed in through the login form."""
    clients: dict[str, TestClient] = {}
    with ExitStack() as stack:

        def as_user(username: str) -> TestClient:
            if username not in clients:
                client = stack.enter_context(TestClient(create_app(loaded_engine)))
                clients[username] = page_client(client, username)
            client = clients[username]
            client.cookies.pop("luodi_lang", None)
            return client

        yield as_user


def csrf(client: TestClient) -> str:
    return str(client.cookies.get("luodi_csrf"))


def education_rows(numbers: list[str], education: str = "本科") -> list[tuple[str, str, str]]:
    return [(number, education, "中级工") for number in numbers]


def wrong_check_digit(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def as_csv(rows: list[tuple[str, str, str]], encoding: str = "utf-8") -> bytes:
    frame = pl.DataFrame(rows, schema=list(HEADERS), orient="row")
    return frame.write_csv().encode(encoding)


def upload(
    client: TestClient,
    data: bytes,
    name: str = "学历.csv",
    feed: str = "education",
    **fields: str,
) -> Any:
    return client.post(
        f"/console/feeds/{feed}/uploads",
        files={"file": (name, data, "text/csv")},
        data={"csrf_token": csrf(client), **fields},
        follow_redirects=False,
    )


def preview_of(client: TestClient, answer: Any) -> tuple[str, str]:
    """(the preview's URL, its page) after an upload."""
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/console/feeds/education/uploads/[0-9a-f]{32}", location), location
    page = client.get(location)
    assert page.status_code == 200, page.text
    return location, page.text


def digest_in(page: str) -> str:
    found = re.search(r'name="digest" value="([0-9a-f]{64})"', page)
    assert found, "the confirmation form carries the previewed digest"
    return found.group(1)


def confirm(client: TestClient, location: str, page: str, **fields: str) -> Any:
    return client.post(
        f"{location}/import",
        data={"csrf_token": csrf(client), "digest": digest_in(page), **fields},
        follow_redirects=False,
    )


def batch_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(FeedBatch)) or 0)


def people(city: pl.DataFrame, start: int, count: int) -> list[str]:
    return city["id_number"].slice(start, count).to_list()


def test_the_list_shows_the_feeds_the_actor_reads(pages: Pages) -> None:
    edu = pages("edu").get("/console/feeds")
    assert edu.status_code == 200
    assert 'data-feed="education"' in edu.text and 'data-feed="children"' in edu.text
    assert 'data-feed="tax"' not in edu.text and 'data-feed="unions"' not in edu.text
    operator = pages("operator").get("/console/feeds").text
    assert 'data-feed="tax"' in operator and 'data-feed="education"' in operator
    health = pages("health").get("/console/feeds").text
    assert 'data-feed="unions"' in health and 'data-feed="education"' not in health


def test_the_feed_page_states_its_columns_and_offers_the_upload_to_its_department(
    pages: Pages,
) -> None:
    edu = pages("edu").get("/console/feeds/education").text
    assert "公民身份号码（18 位）" in edu and "身份证号" in edu and "最高学历" in edu
    assert 'action="/console/feeds/education/uploads"' in edu
    operator = pages("operator").get("/console/feeds/education").text
    assert "公民身份号码（18 位）" in operator
    assert "/uploads" not in operator, "the service centre reads a feed, it does not send it"
    refused = upload(pages("operator"), as_csv([]))
    assert refused.status_code == 403


def test_preview_lists_the_good_and_bad_rows_and_the_xlsx_has_every_refusal(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine
) -> None:
    client = pages("edu")
    good = education_rows(people(city, 0, 4))
    bad = education_rows(people(city, 4, BAD_ROWS), education="博士后")
    before = batch_count(loaded_engine)
    location, page = preview_of(client, upload(client, as_csv(good + bad)))
    assert batch_count(loaded_engine) == before, "a preview imports nothing"
    counts = {
        name: re.search(rf'data-testid="{name}">([\d,]+)<', page).group(1)  # type: ignore[union-attr]
        for name in ("rows-read", "rows-accepted", "rows-refused")
    }
    assert counts == {"rows-read": "64", "rows-accepted": "4", "rows-refused": "60"}
    listed = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>最高学历</td>", page)
    assert len(listed) == feeds_pages.LISTED and listed[0] == "6"  # header is row 1
    assert "不是允许的取值" in page or "应为" in page
    workbook = client.get(f"{location}/refusals.xlsx")
    assert workbook.status_code == 200
    assert "spreadsheetml" in workbook.headers["content-type"]
    sheet = pl.read_excel(io.BytesIO(workbook.content))
    assert sheet.columns == ["行号", "列", "值", "原因"]
    assert sheet.height == BAD_ROWS
    assert sheet["行号"].to_list() == list(range(6, 6 + BAD_ROWS))
    assert set(sheet["值"].to_list()) == {"博士后"} and set(sheet["列"].to_list()) == {"最高学历"}


def test_an_id_number_refused_is_shown_masked(pages: Pages, city: pl.DataFrame) -> None:
    client = pages("edu")
    number = people(city, 70, 1)[0]
    broken = wrong_check_digit(number)
    location, page = preview_of(client, upload(client, as_csv(education_rows([broken]))))
    assert broken not in page and broken[:2] in page
    sheet = pl.read_excel(io.BytesIO(client.get(f"{location}/refusals.xlsx").content))
    assert sheet["值"].to_list()[0] != broken and sheet["值"].to_list()[0].startswith(broken[:2])
    assert "没有可导入的行" in page and 'data-testid="confirm"' not in page


def test_confirm_imports_exactly_the_accepted_rows_by_the_services_rule(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine
) -> None:
    client = pages("edu")
    numbers = people(city, 100, 5)
    rows = education_rows(numbers[:3]) + education_rows(numbers[3:], education="博士后")
    location, page = preview_of(client, upload(client, as_csv(rows)))
    before = batch_count(loaded_engine)
    # All or nothing unless the person chooses to import only the accepted rows.
    refused = confirm(client, location, page)
    assert refused.status_code == 422 and 'href="#accept_partial"' in refused.text
    assert batch_count(loaded_engine) == before
    answer = confirm(client, location, page, accept_partial="1")
    assert answer.status_code == 303, answer.text
    batch_url = answer.headers["location"]
    batch_id = int(batch_url.rsplit("/", 1)[1])
    with session_scope(loaded_engine) as session:
        batch = session.get(FeedBatch, batch_id)
        assert batch is not None
        assert (batch.rows_read, batch.rows_imported, batch.rows_rejected) == (5, 3, 2)
        assert batch.file_name == "学历.csv" and batch.imported_by == "edu"
        assert batch.digest == digest_in(page)
        facts = session.scalars(select(Fact).where(Fact.batch_id == batch_id)).all()
        assert {fact.name for fact in facts} == {"education", "skill_level"}
        assert len(facts) == 6, "two facts of each of the three accepted rows"
        assert {fact.source_row for fact in facts} == {2, 3, 4}, "the file's accepted rows"
    shown = client.get(batch_url)
    assert shown.status_code == 200
    assert "学历.csv" in shown.text and digest_in(page) in shown.text
    assert "已导入 3 行" in shown.text  # the flash message
    assert shown.text.count("博士后") == 2, "the refusals are kept with the batch"
    sheet = pl.read_excel(io.BytesIO(client.get(f"{batch_url}/refusals.xlsx").content))
    assert sheet.height == 2
    assert client.get(location).status_code == 404, "the upload is gone once imported"


def test_another_account_cannot_see_or_confirm_my_upload(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine
) -> None:
    mine = pages("admin")
    location, page = preview_of(mine, upload(mine, as_csv(education_rows(people(city, 120, 2)))))
    other = pages("edu")
    before = batch_count(loaded_engine)
    assert other.get(location).status_code == 404
    assert other.get(f"{location}/refusals.xlsx").status_code == 404
    stolen = other.post(
        f"{location}/import",
        data={"csrf_token": csrf(other), "digest": digest_in(page)},
        follow_redirects=False,
    )
    assert stolen.status_code == 404
    assert batch_count(loaded_engine) == before
    assert mine.get(location).status_code == 200, "still the uploader's to confirm"


def test_the_confirmed_file_must_be_the_previewed_one(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine, data_dir: Path
) -> None:
    client = pages("edu")
    location, page = preview_of(
        client, upload(client, as_csv(education_rows(people(city, 130, 2))))
    )
    held = data_dir / "uploads" / location.rsplit("/", 1)[1] / "upload.csv"
    held.write_bytes(as_csv(education_rows(people(city, 132, 2))))
    before = batch_count(loaded_engine)
    answer = confirm(client, location, page)
    assert answer.status_code == 409 and "与预检时的不同" in answer.text
    assert batch_count(loaded_engine) == before
    forged = client.post(
        f"{location}/import",
        data={"csrf_token": csrf(client), "digest": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 409


def test_a_reviewer_of_another_department_finds_no_feed_nor_batch(
    pages: Pages, city: pl.DataFrame
) -> None:
    client = pages("edu")
    location, page = preview_of(
        client, upload(client, as_csv(education_rows(people(city, 140, 2))))
    )
    batch_url = confirm(client, location, page).headers["location"]
    health = pages("health")
    for path in ("/console/feeds/education", batch_url, f"{batch_url}/refusals.xlsx"):
        answer = health.get(path)
        assert answer.status_code == 404, path
    assert health.get("/console/feeds/unions").status_code == 200
    assert pages("auditor").get(batch_url).status_code == 200
    assert pages("town").get("/console/feeds").status_code == 404


def test_a_gbk_file_and_an_xlsx_file(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine
) -> None:
    client = pages("edu")
    gbk = as_csv(education_rows(people(city, 150, 3), education="硕士研究生"), "gbk")
    location, page = preview_of(client, upload(client, gbk, name="学历-GBK.csv"))
    assert "GBK (GB18030)" in page and 'data-testid="rows-accepted">3<' in page
    answer = confirm(client, location, page)
    assert answer.status_code == 303
    with session_scope(loaded_engine) as session:
        batch = session.get(FeedBatch, int(answer.headers["location"].rsplit("/", 1)[1]))
        assert batch is not None and (batch.rows_imported, batch.file_name) == (3, "学历-GBK.csv")
    again = upload(client, gbk, name="again.csv")
    assert again.status_code == 303 and again.headers["location"] == answer.headers["location"]
    assert "此前已导入" in client.get(again.headers["location"]).text
    workbook = io.BytesIO()
    pl.DataFrame(
        education_rows(people(city, 160, 2)), schema=list(HEADERS), orient="row"
    ).write_excel(workbook)
    location, page = preview_of(client, upload(client, workbook.getvalue(), name="学历.xlsx"))
    assert ">XLSX<" in page and 'data-testid="rows-accepted">2<' in page
    assert confirm(client, location, page).status_code == 303


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("wrong.csv", "姓名,电话\n张三,123\n".encode(), "找不到"),
        ("empty.csv", b"", "文件是空的"),
        ("picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "GBK"),
        ("notes.pdf", b"%PDF-1.4", "只接受 CSV"),
        ("header-only.csv", "身份证号,最高学历\n".encode(), "没有数据行"),
    ],
)
def test_a_bad_file_is_a_clear_error_and_nothing_is_kept(
    pages: Pages, loaded_engine: Engine, data_dir: Path, name: str, data: bytes, reason: str
) -> None:
    client = pages("edu")
    before = batch_count(loaded_engine)
    kept = set((data_dir / "uploads").glob("*")) if (data_dir / "uploads").exists() else set()
    answer = upload(client, data, name=name)
    assert answer.status_code == 422
    assert 'data-testid="error-summary"' in answer.text and 'href="#file"' in answer.text
    summary = answer.text[answer.text.index("error-summary") :]
    assert reason in answer.text and name in answer.text, summary[:1500]
    assert batch_count(loaded_engine) == before
    assert set((data_dir / "uploads").glob("*")) == kept, "a refused upload is not kept"


def test_a_file_too_large_is_refused_by_the_page(
    pages: Pages, city: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_pages, "UPLOAD_BYTES", 100)
    client = pages("edu")
    answer = upload(client, as_csv(education_rows(people(city, 170, 5))))
    assert answer.status_code == 422 and "文件超过" in answer.text
    missing = client.post(
        "/console/feeds/education/uploads",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert missing.status_code == 422 and "请选择要上传的文件" in missing.text


def test_the_pages_in_english(pages: Pages, city: pl.DataFrame) -> None:
    client = pages("edu")
    client.cookies.set("luodi_lang", "en")
    rows = education_rows(people(city, 180, 2)) + education_rows(
        people(city, 182, 1), education="博士后"
    )
    location, page = preview_of(client, upload(client, as_csv(rows)))
    assert "Rows accepted" in page and "通过校验" not in page and "预检结果" not in page
    assert "Education and skill certificates" in page
    sheet = pl.read_excel(io.BytesIO(client.get(f"{location}/refusals.xlsx").content))
    assert sheet.columns == ["Row", "Column", "Value", "Reason"]
    assert sheet["Column"].to_list() == ["最高学历 (education)"]
    assert sheet["Reason"][0].startswith("must be one of"), sheet["Reason"][0]
    listing = client.get("/console/feeds").text
    assert "Feeds you can see" in listing and "可查看的数据源" not in listing
    client.cookies.pop("luodi_lang", None)


def test_a_feed_import_in_the_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    city: pl.DataFrame,
    tmp_path: Path,
) -> None:
    numbers = people(city, 200, 3) + people(city, 203, 1)
    rows = education_rows(numbers[:3]) + education_rows(numbers[3:], education="博士后")
    source = tmp_path / "学历-浏览器.csv"
    source.write_bytes(as_csv(rows, "gbk"))
    page = browser.new_page()
    sign_in(page, server, "edu", PASSWORD)
    page.goto(f"{server}/console/feeds")
    check_page(page, "feeds-index")
    page.get_by_role("link", name="学历与职业技能等级").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("学历与职业技能等级")
    check_page(page, "feeds-feed")
    page.get_by_label("数据文件（CSV 或 XLSX）").set_input_files(str(source))
    page.get_by_role("button", name="上传并预检").click()
    expect(page.get_by_test_id("rows-accepted")).to_have_text("3")
    expect(page.get_by_test_id("rows-refused")).to_have_text("1")
    check_page(page, "feeds-preview")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    check_page(page, "feeds-preview-error")
    page.get_by_label(re.compile("我确认只导入通过校验的 3 行")).check()
    page.get_by_test_id("confirm").click()
    page.wait_for_url(re.compile(r".*/console/feeds/batches/\d+$"))
    assert page.get_by_test_id("rows-imported").inner_text() == "3"
    assert page.get_by_test_id("file-name").inner_text() == "学历-浏览器.csv"
    check_page(page, "feeds-batch")
    page.close()


def test_an_upload_left_unconfirmed_expires(
    pages: Pages, city: pl.DataFrame, data_dir: Path
) -> None:
    client = pages("edu")
    location, _page = preview_of(
        client, upload(client, as_csv(education_rows(people(city, 190, 1))))
    )
    folder = data_dir / "uploads" / location.rsplit("/", 1)[1]
    held = uploads.Held(**json.loads((folder / "held.json").read_text(encoding="utf-8")))
    held.uploaded_at = (datetime.now(UTC) - uploads.HELD_FOR - timedelta(minutes=1)).isoformat()
    held.save()
    assert client.get(location).status_code == 404
    assert uploads.sweep() == 1 and not folder.exists()


def test_a_large_file_is_imported_by_a_job(
    pages: Pages, city: pl.DataFrame, loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds_pages, "IN_REQUEST_ROWS", 2)
    client = pages("edu")
    rows = education_rows(people(city, 210, 3)) + education_rows(
        people(city, 213, 1), education="博士后"
    )
    location, page = preview_of(client, upload(client, as_csv(rows)))
    assert "将在后台导入" in page
    answer = confirm(client, location, page, accept_partial="1")
    assert answer.status_code == 303, answer.text
    job_url = answer.headers["location"]
    assert re.fullmatch(r"/console/feeds/jobs/\d+", job_url)
    waiting = client.get(job_url).text
    # Queued, unless the worker of a browser test's server on the same database (below)
    # took it at once; while it is not finished the page polls itself.
    state = re.search(r'data-testid="job" data-state="(\w+)"', waiting)
    assert state is not None and state.group(1) in ("queued", "running", "done"), waiting
    if state.group(1) != "done":
        assert f'hx-get="{job_url}"' in waiting
    assert client.get(location, follow_redirects=False).headers["location"] == job_url
    again = confirm(client, location, page, accept_partial="1")
    assert again.headers["location"] == job_url, "a second confirmation starts no second job"
    assert pages("health").get(job_url).status_code == 404
    # Here, or by the worker of the browser test's server when it is up (the same database).
    worker.run_pending(loaded_engine)
    deadline = time.monotonic() + 30
    fragment = client.get(job_url, headers={"HX-Request": "true"})
    while 'data-state="done"' not in fragment.text and time.monotonic() < deadline:
        time.sleep(0.2)
        fragment = client.get(job_url, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'data-state="done"' in fragment.text
    assert "hx-get" not in fragment.text, "a finished job stops polling"
    batch_url = re.search(r'href="(/console/feeds/batches/\d+)"', fragment.text).group(1)  # type: ignore[union-attr]
    batch = client.get(batch_url).text
    assert 'data-testid="rows-imported">3<' in batch and "博士后" in batch
    assert client.get(location).status_code == 404, "the upload is gone with its job"
