"""The API over a loaded city: health, towns with counts, masked residents, errors."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient

from luodi.auth.actor import Actor
from luodi.registry import city_files
from tests.web.conftest import sign_in


def test_health(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_towns_with_counts_match_the_files(client: TestClient, small_city: Path) -> None:
    response = client.get("/api/v1/towns")
    assert response.status_code == 200
    towns = response.json()
    assert len(towns) == 19
    assert {"code", "name", "residents", "valid_permits", "children"} <= set(towns[0])
    residents = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False)
    expected = dict(residents.group_by("town_code").len().iter_rows())
    assert {town["code"]: town["residents"] for town in towns if town["residents"]} == expected
    assert (
        sum(town["children"] for town in towns)
        == pl.read_csv(small_city / city_files.CHILDREN).height
    )


def test_resident_is_masked(
    client: TestClient, small_city: Path, accounts: dict[str, Actor]
) -> None:
    """An auditor reads every resident, masked; nobody signed in reads none."""
    residents = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False)
    assert client.get("/api/v1/residents/1").status_code == 404
    response = client.get("/api/v1/residents/1", headers=sign_in(client, "auditor"))
    assert response.status_code == 200
    body = response.json()
    first = residents.row(0, named=True)
    assert body["id_number_masked"] == first["id_number"][:2] + "*" * 13 + first["id_number"][-3:]
    assert body["phone_masked"] == first["phone"][:3] + "****" + first["phone"][-4:]
    assert body["name_masked"].startswith(first["name"][0])
    text = response.text
    assert first["id_number"] not in text
    assert first["phone"] not in text
    assert first["name"] not in text
    assert first["birth_date"] not in text
    assert not re.search(r"\d{17}[\dX]", text)


def test_unknown_resident_is_404_with_bilingual_message(admin_client: TestClient) -> None:
    client = admin_client
    response = client.get("/api/v1/residents/99999999")
    assert response.status_code == 404
    assert response.json()["message_zh"]
    assert response.json()["message_en"]
    assert client.get("/api/v1/residents/abc").status_code == 422


def test_home_page_lists_towns_in_chinese(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.text
    assert "周巷镇" in response.text
    assert "3,000" in response.text
    assert "cdn" not in response.text.lower()
    assert client.get("/static/luodi.css").status_code == 200


def test_openapi_served_locally(client: TestClient) -> None:
    assert "/api/v1/towns" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 404  # Swagger UI would fetch a CDN
