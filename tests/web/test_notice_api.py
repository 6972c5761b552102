"""Notices over HTTP on SQLite and PostgreSQL: pages read from stored rows, downloads served
from storage with an ETag, bad input refused (never a 500), re-runs that need a confirmed
scoring run, and every changed row on the notice page."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.notices import exports
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from tests.web.conftest import AS_OF, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def ranking(client: TestClient, accounts: dict[str, Actor]) -> dict[str, Any]:
    """A published score ranking of the whole small city."""
    with session_scope(client.app.state.engine) as session:
        run_id = scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id
    published = client.post(
        "/api/v1/notices", json={"scoring_run_id": run_id}, headers=sign_in(client, "operator")
    )
    assert published.status_code == 200, published.text
    return published.json()


def test_pages_are_read_from_stored_rows(client: TestClient, ranking: dict[str, Any]) -> None:
    url = f"/api/v1/notices/{ranking['id']}"
    total = ranking["rows"]
    first = client.get(url, params={"limit": 50}).json()
    assert [row["rank"] for row in first["results"]] == sorted(r["rank"] for r in first["results"])
    assert len(first["results"]) == 50 and first["rows"] == total > 500
    last = client.get(url, params={"offset": total - 2, "limit": 50}).json()["results"]
    assert len(last) == 2
    wanted = first["results"][17]
    found = client.get(url, params={"ref": wanted["ref"]}).json()["results"]
    assert found == [wanted]
    assert client.get(url, params={"ref": "no-such-ref"}).json()["results"] == []
    page = client.get(f"/notices/{ranking['id']}", params={"page": 2})
    assert page.status_code == 200 and "第 2 / " in page.text
    beyond = client.get(f"/notices/{ranking['id']}", params={"page": 99_999})
    assert beyond.status_code == 200 and "上一页" in beyond.text  # the last page


def test_a_ranking_names_the_town_on_the_api_and_the_page(
    client: TestClient, ranking: dict[str, Any]
) -> None:
    body = client.get(f"/api/v1/notices/{ranking['id']}", params={"limit": 20}).json()
    assert ranking["layout"] == body["layout"] == "score_ranking"
    assert body["columns"] == {
        "ref": "编号",
        "name": "姓名",
        "id_number": "身份证号",
        "town": "镇街",
        "points": "积分",
        "rank": "排名",
    }
    towns = {town["code"]: town["name"] for town in client.get("/api/v1/towns").json()}
    shown = {row["town"] for row in body["results"]}
    assert shown and shown <= set(towns.values()) and not shown & set(towns)
    page = client.get(f"/notices/{ranking['id']}").text
    assert '<th scope="col">镇街</th>' in page and body["results"][0]["town"] in page


@pytest.mark.parametrize(
    "params",
    [
        {"offset": -1},
        {"offset": 2**40},
        {"limit": 0},
        {"limit": 10**7},
        {"limit": -5},
        {"ref": "12\x0034"},
        {"ref": "x" * 41},
        {"offset": "NaN"},
    ],
)
def test_bad_paging_is_refused(
    client: TestClient, ranking: dict[str, Any], params: dict[str, Any]
) -> None:
    response = client.get(f"/api/v1/notices/{ranking['id']}", params=params)
    assert response.status_code == 422, response.text


def test_bad_ids_are_not_found(client: TestClient, accounts: dict[str, Actor]) -> None:
    auditor = sign_in(client, "auditor")
    for path in (
        f"/api/v1/notices/{2**31}",
        f"/api/v1/notices/{2**63}",
        "/api/v1/notices/-1",
        "/api/v1/notices/0/pdf",
        f"/api/v1/notices/{2**31}/xlsx",
        f"/notices/{2**40}",
        f"/api/v1/notices/1/amendments/{2**31}/changes",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/api/v1/objections/{2**31}", headers=auditor).status_code == 404
    assert client.get("/api/v1/notices", params={"q": "a\x00b"}).status_code == 422
    assert client.get(f"/notices/{2**20}", params={"page": 2**40}).status_code == 422


def test_downloads_are_served_from_storage_with_an_etag(
    client: TestClient, ranking: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_render(*_args: object) -> bytes:
        raise AssertionError("a download must not render the file")

    monkeypatch.setattr(exports, "to_pdf", no_render)
    monkeypatch.setattr(exports, "to_xlsx", no_render)
    etag = f'"{ranking["rows_digest"]}"'
    for kind, magic in (("pdf", b"%PDF-"), ("xlsx", b"PK")):
        url = f"/api/v1/notices/{ranking['id']}/{kind}"
        first, second = client.get(url), client.get(url)
        assert first.status_code == second.status_code == 200
        assert first.content.startswith(magic) and first.content == second.content
        assert first.headers["etag"] == etag
        assert "max-age" in first.headers["cache-control"]
        assert f"notice-{ranking['id']}.{kind}" in first.headers["content-disposition"]
        cached = client.get(url, headers={"If-None-Match": etag})
        assert cached.status_code == 304 and cached.content == b""
        stale = client.get(url, headers={"If-None-Match": '"an-older-digest"'})
        assert stale.status_code == 200


def test_objection_texts_and_names_are_checked(
    client: TestClient, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> None:
    operator = sign_in(client, "operator")
    notice = client.post(
        "/api/v1/notices", json={"allocation_run_id": cycle["run"]}, headers=operator
    )
    assert notice.status_code == 200, notice.text
    notice_id = notice.json()["id"]
    resident = sign_in(client, "resident")
    url = f"/api/v1/notices/{notice_id}/objections"
    row = str(cycle["mine"])
    for data, files in [
        ({"row": row, "reason": "理由"}, [("files", ("证明\u202egnp.exe", PNG, "image/png"))]),
        ({"row": row, "reason": "理由\x00"}, None),
        ({"row": row, "reason": "长" * 2001}, None),
        ({"row": row, "reason": ""}, None),
        ({"row": "1\x002", "reason": "理由"}, None),
    ]:
        refused = client.post(url, data=data, files=files, headers=resident)
        assert refused.status_code == 422, (data, refused.text)
    filed = client.post(url, data={"row": row, "reason": "体检名额有误"}, headers=resident)
    assert filed.status_code == 200, filed.text
    review = f"/api/v1/objections/{filed.json()['id']}/review"
    health = sign_in(client, "health")
    long = client.post(review, json={"uphold": True, "reason": "x" * 2001}, headers=health)
    assert long.status_code == 422
    extra = client.post(review, json={"uphold": True, "reason": "成立", "by": "x"}, headers=health)
    assert extra.status_code == 422
    upheld = client.post(review, json={"uphold": True, "reason": "名额数据有误"}, headers=health)
    assert upheld.status_code == 200, upheld.text

    # Re-scored since publishing: naming the newer run without confirming it is refused.
    with session_scope(client.app.state.engine) as session:
        later = date(2027, 3, 1)
        newer = scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", later), later
        ).run.id
    rerun = f"/api/v1/notices/{notice_id}/rerun"
    refused = client.post(rerun, json={"scoring_run_id": newer}, headers=operator)
    assert refused.status_code == 409
    assert "confirm_other_scoring_run" in refused.json()["message_en"]
    confirmed = client.post(
        rerun,
        json={"scoring_run_id": newer, "confirm_other_scoring_run": True},
        headers=operator,
    )
    assert confirmed.status_code == 200, confirmed.text
    amendment = confirmed.json()
    assert amendment["other_scoring_run"] is True and amendment["scoring_run_id"] == newer
    listed = [
        *client.get(amendment["changes_url"], params={"limit": 3}).json()["results"],
        *client.get(amendment["changes_url"], params={"offset": 3}).json()["results"],
    ]
    assert amendment["changed"] == len(listed) == len({c["ref"] for c in listed}) > 1
    page = client.get(f"/notices/{notice_id}").text
    assert f'data-testid="changes-{amendment["id"]}"' in page
    for change in listed:
        assert f"<td>{change['ref']}</td>" in page
