"""Accounts, scoping, notices, objections and attacks over HTTP, on SQLite and PostgreSQL.

Each test signs in as real accounts (Argon2 hashes, stored tokens) against the small city."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from typing import Any

import polars as pl
import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.scoring import service as scoring_service
from tests.web.conftest import PASSWORD, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%luodi test\n"
INJECTIONS = ["' OR '1'='1", "1; DROP TABLE residents; --", '" OR 1=1 --', "%' UNION SELECT 1 --"]


def headers(client: TestClient, username: str) -> dict[str, str]:
    return sign_in(client, username)


# --- sign-in and tokens -------------------------------------------------------------------


def test_token_flow_and_bad_tokens(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    token = client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD})
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 8 * 3600
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["role"] == "operator"
    # Forged, malformed and expired tokens are refused, never taken as "public".
    for value in ("Bearer forged-token", "Bearer " + body["access_token"][:-2] + "xx", "Basic abc"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["www-authenticate"] == "Bearer"
    with session_scope(loaded_engine) as session:
        user = auth_service.get_user(session, "auditor")
        expired = auth_service.issue_token(
            session, user, auth_service.TokenKind.BEARER, ttl=timedelta(seconds=-1)
        )
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired.token}"})
    assert response.status_code == 401
    assert "过期" in response.json()["message_zh"]


def test_brute_force_is_throttled(client: TestClient, loaded_engine: Engine) -> None:
    with session_scope(loaded_engine) as session:
        auth_service.add_user(SYSTEM_ACTOR, session, "victim", "auditor", PASSWORD)
    for _ in range(auth_service.MAX_FAILURES_PER_USER):
        wrong = client.post("/api/v1/auth/token", data={"username": "victim", "password": "x" * 12})
        assert wrong.status_code == 401
        assert wrong.json()["message_zh"] == "用户名或密码错误"
    # Locked: even the right password is not checked now.
    locked = client.post("/api/v1/auth/token", data={"username": "victim", "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    # An unknown name answers like a wrong password (no user enumeration).
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    assert unknown.json()["message_zh"] == "用户名或密码错误"


def test_a_disabled_account_loses_its_tokens(client: TestClient, loaded_engine: Engine) -> None:
    with session_scope(loaded_engine) as session:
        auth_service.add_user(SYSTEM_ACTOR, session, "leaver", "operator", PASSWORD)
    auth = sign_in(client, "leaver")
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 200
    with session_scope(loaded_engine) as session:
        auth_service.disable_user(SYSTEM_ACTOR, session, "leaver")
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401
    again = client.post("/api/v1/auth/token", data={"username": "leaver", "password": PASSWORD})
    assert again.status_code == 401


# --- scoping -------------------------------------------------------------------------------


def test_town_staff_read_only_their_town(
    client: TestClient, accounts: dict[str, Actor], city: pl.DataFrame
) -> None:
    town, other_town = accounts["town"].town_code, accounts["town2"].town_code
    auth = headers(client, "town")
    own = client.get("/api/v1/residents", params={"town": town, "limit": 1000}, headers=auth)
    assert own.status_code == 200
    listed = own.json()
    assert listed and {row["town_code"] for row in listed} == {town}
    assert len(listed) == min(1000, city.filter(pl.col("town_code") == town).height)
    assert all(row["name"] for row in listed)  # the registrar reads names in full
    # Another town: an empty list, and a resident of it by id is "not found".
    assert client.get("/api/v1/residents", params={"town": other_town}, headers=auth).json() == []
    everyone = client.get(
        "/api/v1/residents", params={"limit": 1000}, headers=headers(client, "admin")
    )
    stranger = next(row for row in everyone.json() if row["town_code"] == other_town)
    response = client.get(f"/api/v1/residents/{stranger['id']}", headers=auth)
    assert response.status_code == 404
    assert client.get(f"/api/v1/residents/{listed[0]['id']}", headers=auth).status_code == 200
    # Nobody signed in: the list needs a sign-in, a resident is not found.
    assert client.get("/api/v1/residents").status_code == 401
    assert client.get(f"/api/v1/residents/{listed[0]['id']}").status_code == 404


def test_injection_strings_in_search_fields(client: TestClient, loaded_engine: Engine) -> None:
    auth = headers(client, "admin")
    with session_scope(loaded_engine) as session:
        before = session.scalar(text("SELECT count(*) FROM residents"))
    for attack in INJECTIONS:
        towns = client.get("/api/v1/residents", params={"town": attack}, headers=auth)
        assert towns.status_code == 422  # not a town code: refused, not interpreted
        found = client.get("/api/v1/notices", params={"q": attack})
        assert found.status_code == 200 and found.json() == []
        history = client.get("/api/v1/audit", params={"object": f"resident:{attack}"}, headers=auth)
        assert history.status_code == 200 and history.json() == []
    with session_scope(loaded_engine) as session:
        assert session.scalar(text("SELECT count(*) FROM residents")) == before


def test_residents_see_only_their_own_applications(
    client: TestClient, cycle: dict[str, Any]
) -> None:
    auth = headers(client, "resident")
    assert client.get(f"/api/v1/applications/{cycle['mine']}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/applications/{cycle['other']}", headers=auth).status_code == 404
    mine = client.get("/api/v1/my/applications", headers=auth).json()
    assert [a["id"] for a in mine] == [cycle["mine"]]
    # A resident cannot name an applicant: identity comes from the account (422 names the key).
    refused = client.post(
        f"/api/v1/program-cycles/{cycle['cycle']}/applications",
        json={"records": [{"id_number": "110105194912310021"}]},
        headers=auth,
    )
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "id_number"


def test_reviewers_verify_only_their_department_and_auditors_never_write(
    client: TestClient, cycle: dict[str, Any]
) -> None:
    body = {"approve": False, "reason": "材料不全"}
    url = f"/api/v1/applications/{cycle['other']}/verification"
    # 教育局 does not see 总工会's applications at all; the auditor sees them but may not act.
    assert client.post(url, json=body, headers=headers(client, "edu")).status_code == 404
    assert client.post(url, json=body, headers=headers(client, "auditor")).status_code == 403
    assert client.post(url, json=body).status_code == 401
    run = client.post(
        f"/api/v1/program-cycles/{cycle['cycle']}/runs",
        json={"seed": "x"},
        headers=headers(client, "auditor"),
    )
    assert run.status_code == 403
    audit = client.get("/api/v1/audit/verify", headers=headers(client, "auditor")).json()
    assert audit["intact"] and audit["entries"] > 0


def test_department_tokens_push_only_their_own_feeds(
    client: TestClient, loaded_engine: Engine, city: pl.DataFrame
) -> None:
    with session_scope(loaded_engine) as session:
        token = auth_service.add_department_token(SYSTEM_ACTOR, session, "文明办").token
    auth = {"Authorization": f"Bearer {token}"}
    record = {
        "记录编号": "TRUST-1",
        "身份证号": city["id_number"][0],
        "类别": "志愿服务",
        "日期": "2025-06-01",
        "服务时长": "10",
    }
    own = client.post(
        "/api/v1/feeds/volunteering_honours/records", json={"records": [record]}, headers=auth
    )
    assert own.status_code == 200, own.text
    assert own.json()["status"] == "imported"
    other = client.post(
        "/api/v1/feeds/social_insurance/records", json={"records": [{"a": "1"}]}, headers=auth
    )
    assert other.status_code == 403
    # A machine token is not a person: it cannot read residents.
    assert client.get("/api/v1/residents", headers=auth).status_code == 403


# --- notices and objections ----------------------------------------------------------------


def test_notice_objection_review_rerun_finalise(
    client: TestClient,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    cycle: dict[str, Any],
    city: pl.DataFrame,
) -> None:
    operator = headers(client, "operator")
    assert (
        client.post("/api/v1/notices", json={"allocation_run_id": cycle["run"]}).status_code == 401
    )
    published = client.post(
        "/api/v1/notices", json={"allocation_run_id": cycle["run"]}, headers=operator
    )
    assert published.status_code == 200, published.text
    notice = published.json()
    start = date.fromisoformat(notice["starts_on"])
    assert (date.fromisoformat(notice["ends_on"]) - start).days >= 4
    notice_id = notice["id"]

    # Public, masked, downloadable without signing in: no full name or ID number anywhere.
    shown = client.get(f"/api/v1/notices/{notice_id}").json()
    assert len(shown["results"]) == 12
    xlsx = client.get(f"/api/v1/notices/{notice_id}/xlsx")
    pdf = client.get(f"/api/v1/notices/{notice_id}/pdf")
    page = client.get(f"/notices/{notice_id}")
    assert xlsx.status_code == pdf.status_code == page.status_code == 200
    sheet = pl.read_excel(io.BytesIO(xlsx.content), has_header=False, infer_schema_length=0)
    cells = [str(value) for column in sheet.iter_columns() for value in column if value]
    pdf_text = "".join(
        "".join(p.extract_text().replace("\x00", "").split())
        for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages
    )
    applicants = city.filter(pl.col("id_number").is_in(cycle["numbers"]))
    assert applicants.height == 12
    assert {row["id_number"][:2] for row in shown["results"]} <= {n[:2] for n in cycle["numbers"]}
    published_text = json.dumps(shown, ensure_ascii=False) + "".join(cells) + pdf_text + page.text
    assert "公示" in pdf_text  # the CJK font is embedded and extractable
    for person in applicants.iter_rows(named=True):
        assert person["id_number"] not in published_text
        assert person["name"] not in published_text
        assert person["id_number"][6:14] not in published_text  # no birth date either
        if person.get("phone"):
            assert person["phone"] not in published_text

    # Objections: only on a row about oneself, reason required, attachments checked.
    resident = headers(client, "resident")
    url = f"/api/v1/notices/{notice_id}/objections"
    mine, other = str(cycle["mine"]), str(cycle["other"])
    assert client.post(url, data={"row": other, "reason": "x"}, headers=resident).status_code == 404
    assert client.post(url, data={"row": mine, "reason": "x"}, headers=operator).status_code == 403
    assert client.post(url, data={"row": mine, "reason": "x"}).status_code == 401
    for files, why in [
        ([("files", ("proof.pdf", PNG, "application/pdf"))], "不符"),  # content is not a PDF
        ([("files", ("proof.exe", PDF, "application/pdf"))], "PDF"),
        ([("files", ("big.png", PNG + b"\x00" * notices.MAX_ATTACHMENT_BYTES, "image/png"))], "MB"),
        ([("files", (f"p{i}.png", PNG, "image/png")) for i in range(4)], "3"),
    ]:
        refused = client.post(
            url, data={"row": mine, "reason": "分数有误"}, files=files, headers=resident
        )
        assert refused.status_code == 422, refused.text
        assert why in refused.json()["message_zh"]
    reason = "<script>alert('x')</script> 我的社保月数应为24个月"
    filed = client.post(
        url,
        data={"row": mine, "reason": reason},
        files=[("files", ("../../etc/passwd.png", PNG, "image/png"))],
        headers=resident,
    )
    assert filed.status_code == 200, filed.text
    objection = filed.json()
    assert objection["attachments"][0]["file_name"] == "passwd.png"  # no folders kept
    duplicate = client.post(url, data={"row": mine, "reason": "again"}, headers=resident)
    assert duplicate.status_code == 409

    # The department decides; the wrong department does not see it; a reason is required.
    decide = f"/api/v1/objections/{objection['id']}/review"
    verdict = {"uphold": True, "reason": "体检名额数据有误，已更正"}
    assert client.post(decide, json=verdict, headers=headers(client, "edu")).status_code == 404
    empty = client.post(
        decide, json={"uphold": True, "reason": " "}, headers=headers(client, "health")
    )
    assert empty.status_code == 422
    # Finalising with an objection open is refused (after the window too).
    with session_scope(loaded_engine) as session, pytest.raises(Exception, match="未复核"):
        notices.finalize(SYSTEM_ACTOR, session, notice_id, today=start + timedelta(days=30))
    upheld = client.post(decide, json=verdict, headers=headers(client, "health"))
    assert upheld.json()["status"] == "upheld"
    # The resident reads the decision; the page escapes the reason they wrote.
    theirs = client.get("/api/v1/objections", headers=resident).json()
    assert [o["decision_reason"] for o in theirs] == [verdict["reason"]]

    # Upheld → re-run → the amendment is on the notice; then final after the window.
    assert client.post(f"/api/v1/notices/{notice_id}/finalize", headers=operator).status_code == 409
    amended = client.post(f"/api/v1/notices/{notice_id}/rerun", json={}, headers=operator)
    assert amended.status_code == 200, amended.text
    after = client.get(f"/api/v1/notices/{notice_id}").json()
    assert after["allocation_run_id"] == amended.json()["new_run_id"] != cycle["run"]
    assert after["amendments"][0]["previous_run_id"] == cycle["run"]
    early = client.post(f"/api/v1/notices/{notice_id}/finalize", headers=operator)
    assert early.status_code == 409 and "公示期" in early.json()["message_zh"]
    with session_scope(loaded_engine) as session:
        notices.finalize(SYSTEM_ACTOR, session, notice_id, today=start + timedelta(days=30))
    final = client.get(f"/api/v1/notices/{notice_id}").json()
    assert final["status"] == "final"
    rerun = client.post(
        f"/api/v1/program-cycles/{cycle['cycle']}/runs", json={"seed": "x"}, headers=operator
    )
    assert rerun.status_code == 409  # nothing final can be edited
    late = client.post(url, data={"row": mine, "reason": "late"}, headers=resident)
    assert late.status_code == 409
    history = client.get(
        "/api/v1/audit",
        params={"object": f"notice:{notice_id}"},
        headers=headers(client, "auditor"),
    ).json()
    assert [e["action"] for e in history] == ["notice.publish", "notice.amend", "notice.finalize"]


def test_web_forms_need_their_csrf_token(client: TestClient, accounts: dict[str, Actor]) -> None:
    with TestClient(client.app, follow_redirects=False) as browser:
        page = browser.get("/login")
        token = page.cookies.get("luodi_csrf") or browser.cookies.get("luodi_csrf")
        assert token and token in page.text
        forged = browser.post("/login", data={"username": "operator", "password": PASSWORD})
        assert forged.status_code == 403
        wrong = browser.post(
            "/login",
            data={"username": "operator", "password": PASSWORD, "csrf_token": "not-it"},
        )
        assert wrong.status_code == 403
        signed = browser.post(
            "/login", data={"username": "operator", "password": PASSWORD, "csrf_token": token}
        )
        assert signed.status_code == 303
        assert "httponly" in signed.headers["set-cookie"].lower()
        # Signing in rotates the CSRF token: the one seen before no longer passes.
        rotated = browser.cookies.get("luodi_csrf")
        assert rotated and rotated != token
        stale = browser.post("/logout", data={"csrf_token": token})
        assert stale.status_code == 403
        # The session cookie alone cannot change anything through the API (CSRF header).
        blocked = browser.post("/api/v1/notices", json={"allocation_run_id": 1})
        assert blocked.status_code == 403
        assert browser.get("/api/v1/auth/me").json()["username"] == "operator"


def test_script_in_names_and_reasons_is_escaped(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    """A title and an objection reason with HTML are shown as text on every page."""
    attack = "<img src=x onerror=alert(1)>"
    with session_scope(loaded_engine) as session:
        run_id = scoring_service.list_runs(SYSTEM_ACTOR, session)[0].id
        notice = notices.publish(
            SYSTEM_ACTOR, session, scoring_run_id=run_id, title=f"积分排名 {attack}"
        )
    listing = client.get("/notices").text
    page = client.get(f"/notices/{notice.id}").text
    for html in (listing, page):
        assert attack not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
