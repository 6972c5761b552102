"""Departments push records and upload files over HTTP: same checks, all or nothing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient


def people(small_city: Path, count: int) -> list[str]:
    return pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"][
        :count
    ].to_list()


def test_feeds_are_listed_with_their_headers(admin_client: TestClient) -> None:
    feeds = {feed["id"]: feed for feed in admin_client.get("/api/v1/feeds").json()}
    assert "公民身份号码" in feeds["social_insurance"]["columns"]["id_number"]["headers"]
    assert "volunteer_hours" in feeds["volunteering_honours"]["facts"]


def test_push_good_records_then_the_same_again(admin_client: TestClient, small_city: Path) -> None:
    ids = people(small_city, 2)
    records = [
        {
            "记录编号": "API-V-1",
            "身份证号": ids[0],
            "类别": "志愿服务",
            "日期": "2025-06-01",
            "服务时长": "3.5",
        },
        {
            "记录编号": "API-V-2",
            "身份证号": ids[1],
            "类别": "表彰",
            "日期": "2025-07-01",
            "表彰级别": "县级",
            "表彰名称": "最美慈溪人",
        },
    ]
    response = admin_client.post(
        "/api/v1/feeds/volunteering_honours/records", json={"records": records}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["rows_imported"], body["facts_written"]) == ("imported", 2, 2)
    batches = admin_client.get(
        "/api/v1/feeds/batches", params={"feed": "volunteering_honours"}
    ).json()
    assert batches[0]["id"] == body["batch_id"] and batches[0]["file_name"].startswith("api:")
    again = admin_client.post(
        "/api/v1/feeds/volunteering_honours/records", json={"records": records}
    )
    assert again.status_code == 200 and again.json()["status"] == "already_imported"


def test_push_with_a_bad_record_imports_nothing(admin_client: TestClient, small_city: Path) -> None:
    ids = people(small_city, 3)
    records = [
        {
            "record_number": "API-X-1",
            "id_number": ids[0],
            "kind": "volunteer",
            "record_date": "2025-06-01",
            "hours": "2",
        },
        {
            "record_number": "API-X-2",
            "id_number": ids[1],
            "kind": "volunteer",
            "record_date": "2025-13-01",
            "hours": "30",
        },
        {
            "record_number": "API-X-3",
            "id_number": ids[2],
            "kind": "honour",
            "record_date": "2025-06-01",
            "level": "galactic",
        },
    ]
    response = admin_client.post(
        "/api/v1/feeds/volunteering_honours/records", json={"records": records}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "rejected" and body["rows_imported"] == 0
    assert {(item["row"], item["column"]) for item in body["rejections"]} == {
        (2, "record_date"),
        (2, "hours"),
        (3, "level"),
    }
    partial = admin_client.post(
        "/api/v1/feeds/volunteering_honours/records",
        json={"records": records, "accept_partial": True},
    )
    assert partial.status_code == 200 and partial.json()["rows_imported"] == 1


def test_unknown_fields_and_feeds_are_clear_errors(admin_client: TestClient) -> None:
    response = admin_client.post(
        "/api/v1/feeds/social_insurance/records", json={"records": [{"colour": "blue"}]}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "colour"
    missing = admin_client.post("/api/v1/feeds/nope/records", json={"records": [{"a": 1}]})
    assert missing.status_code == 404
    empty = admin_client.post("/api/v1/feeds/social_insurance/records", json={"records": []})
    assert empty.status_code == 422


def test_upload_a_gbk_file(admin_client: TestClient, small_city: Path) -> None:
    ids = people(small_city, 5)
    frame = pl.DataFrame(
        {"公民身份号码": ids, "纳税年度": ["2023"] * 5, "已缴税额": ["1200.50"] * 5}
    )
    data = frame.write_csv().encode("gbk")
    response = admin_client.post(
        "/api/v1/feeds/tax/files", files={"file": ("个税.csv", data, "text/csv")}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["encoding"], body["rows_imported"], body["file_name"]) == (
        "gb18030",
        5,
        "个税.csv",
    )
    assert body["report_files"] == []
    bad = frame.with_columns(pl.lit("-5").alias("已缴税额")).write_csv().encode("gbk")
    refused = admin_client.post(
        "/api/v1/feeds/tax/files",
        files={"file": ("bad.csv", bad, "text/csv")},
        data={"dry_run": "true"},
    )
    assert refused.status_code == 422
    assert refused.json()["rejections"][0]["reason_zh"] == "不能小于 0"
