"""好差评 in the resident's portal: the prompt lists the resident's closed cases; a rating is
sent with CSRF, refused with an error summary (input kept) when no level is chosen, stored
once; another's case is not found; staff have no such page."""

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
from tests.web.console.test_shell import page_client


@pytest.fixture(scope="module")
def loaded_engine(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """SQLite only: the pages render what ``ratings.service`` read, and its tests (tests/ratings) run on both databases."""
    with city_engine("sqlite", small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def closed(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> dict[str, Any]:
    made = close_cases(
        loaded_engine, cycle["run"], cycle["mine"], accounts["resident"], accounts["health"]
    )
    return {**made, "mine": cycle["mine"], "other": cycle["other"]}


def test_the_resident_rates_a_closed_case_from_the_prompt(
    client: TestClient, closed: dict[str, Any]
) -> None:
    page_client(client, "resident")
    page = client.get("/my/ratings").text
    application, objection = f"application-{closed['mine']}", f"objection-{closed['objection']}"
    assert f'data-testid="rating-{application}"' in page
    assert f'data-testid="rating-{objection}"' in page
    assert f"application-{closed['other']}" not in page
    # /my prompts with the same forms.
    home = client.get("/my").text
    assert 'data-testid="rating-prompt"' in home and f'data-testid="rating-{objection}"' in home
    token = client.cookies.get("luodi_csrf")
    form = {"case_kind": "application", "case_id": closed["mine"], "csrf_token": token}
    # No level chosen: the same page again, the summary linking to the levels, comment kept.
    refused = client.post("/my/ratings", data={**form, "comment": "排队太久"})
    assert refused.status_code == 422
    assert 'data-testid="error-summary"' in refused.text
    assert f'href="#level-{application}"' in refused.text and "排队太久</textarea>" in refused.text
    taken = client.post(
        "/my/ratings", data={**form, "level": "2", "comment": "排队太久"}, follow_redirects=False
    )
    assert taken.status_code == 303 and taken.headers["location"] == "/my"
    after = client.get("/my/ratings").text
    assert f'data-testid="rating-{application}"' not in after
    assert f'data-testid="rating-{objection}"' in after
    again = client.post("/my/ratings", data={**form, "level": "5"})
    assert again.status_code == 409
    # Another's application: not found, as if it did not exist.
    others = client.post("/my/ratings", data={**form, "case_id": closed["other"], "level": "5"})
    assert others.status_code == 404
    # No CSRF token, no rating.
    forged = client.post(
        "/my/ratings", data={**form, "csrf_token": "", "case_kind": "objection", "level": "5"}
    )
    assert forged.status_code == 403
    assert f'data-testid="rating-{objection}"' in client.get("/my/ratings").text
    client.cookies.clear()


def test_the_ratings_page_is_the_resident_s_only(
    client: TestClient, closed: dict[str, Any]
) -> None:
    page_client(client, "operator")
    assert client.get("/my/ratings").status_code == 404
    client.cookies.clear()
    answer = client.get("/my/ratings", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
