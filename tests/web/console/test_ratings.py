"""The console's ratings area: the centre (admin, operator, auditor) reads the counts per
level, per program and month and the latest comments; other roles have no such area; the API
takes a resident's rating (once) and gives staff the summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import Actor
from tests.conftest import city_engine
from tests.ratings.cases import close_cases
from tests.web.conftest import sign_in
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client


@pytest.fixture(scope="module")
def loaded_engine(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """SQLite only: the pages and the API render what ``ratings.service`` read, and its tests (tests/ratings) run on both databases."""
    with city_engine("sqlite", small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def rated(
    loaded_engine: Engine, client: TestClient, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> dict[str, Any]:
    """The resident's application and objection closed and rated through the API."""
    made = close_cases(
        loaded_engine, cycle["run"], cycle["mine"], accounts["resident"], accounts["health"]
    )
    client.cookies.clear()
    headers = sign_in(client, "resident")
    for kind, case_id, level, comment in (
        ("application", cycle["mine"], 5, None),
        ("objection", made["objection"], 1, "复核意见看不懂"),
    ):
        answer = client.post(
            "/api/v1/ratings",
            json={"case_kind": kind, "case_id": case_id, "level": level, "comment": comment},
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
    again = client.post(
        "/api/v1/ratings",
        json={"case_kind": "application", "case_id": cycle["mine"], "level": 1},
        headers=headers,
    )
    assert again.status_code == 409
    return {**made, "headers": headers}


@pytest.mark.parametrize("username", ["operator", "auditor"])
def test_the_centre_reads_the_summary(
    client: TestClient, rated: dict[str, Any], username: str
) -> None:
    page = page_client(client, username).get("/console/ratings")
    assert page.status_code == 200
    assert 'data-testid="rating-total">2<' in page.text
    rows = table_rows(page.text, "rating-table")
    assert len(rows) == 1 and rows[0][2:] == ["1", "0", "0", "0", "1", "2"]
    assert table_rows(page.text, "rating-levels-table") == [
        ["非常满意", "1"],
        ["满意", "0"],
        ["基本满意", "0"],
        ["不满意", "0"],
        ["非常不满意", "1"],
    ]
    comments = table_rows(page.text, "rating-comments")
    assert [row[2:] for row in comments] == [["非常不满意", "复核意见看不懂"]]
    assert 'href="/console/ratings" aria-current="page"' in page.text
    client.cookies.clear()


@pytest.mark.parametrize("username", ["edu", "town", "resident"])
def test_no_other_role_has_the_area(
    client: TestClient, rated: dict[str, Any], username: str
) -> None:
    assert page_client(client, username).get("/console/ratings").status_code == 404
    client.cookies.clear()


def test_the_api_gives_staff_the_summary_and_residents_nothing(
    client: TestClient, rated: dict[str, Any]
) -> None:
    client.cookies.clear()
    summary = client.get("/api/v1/ratings/summary", headers=sign_in(client, "operator")).json()
    assert summary["total"] == 2 and summary["by_level"] == {"5": 1, "4": 0, "3": 0, "2": 0, "1": 1}
    assert [c["comment"] for c in summary["latest_comments"]] == ["复核意见看不懂"]
    assert client.get("/api/v1/ratings/summary", headers=rated["headers"]).status_code == 403
    assert client.get("/api/v1/ratings/pending", headers=rated["headers"]).json() == []
    # The comment is staff's only: no public page shows it.
    assert "复核意见看不懂" not in client.get(f"/notices/{rated['notice']}").text
