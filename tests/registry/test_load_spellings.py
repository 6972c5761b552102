"""``luodi load`` reads the Chinese spellings a feed import of the same file accepts
(the feeds' ``values:``), SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.registry.loading import load_city
from luodi.registry.models import Employment, ResidencePermit, Resident, Town
from tests import family_city as city
from tests.test_cli import run_luodi


def test_load_reads_the_feeds_chinese_spellings(session: Session, tmp_path: Path) -> None:
    folder = city.write_family_city(
        tmp_path,
        towns=f"code,name,kind\n{city.ZHOUXIANG},周巷镇,镇\n{city.BAISHA},白沙路街道,街道\n",
        permits=(
            "permit_number,id_number,town_code,issue_date,expiry_date,status\n"
            f"P1,{city.FATHER},{city.ZHOUXIANG},2024-01-01,2099-01-01,有效\n"
            f"P2,{city.MOTHER},{city.ZHOUXIANG},2020-01-01,2021-01-01,已过期\n"
            f"P3,{city.UNCLE},{city.ZHOUXIANG},2020-01-01,2099-01-01,注销\n"
        ),
        residents=(
            "id_number,name,town_code,household_number,relation_to_head\n"
            f"{city.FATHER},父,{city.ZHOUXIANG},H1,本人\n"
            f"{city.MOTHER},母,{city.ZHOUXIANG},H1,妻\n"
            f"{city.UNCLE},叔,{city.ZHOUXIANG},H1,兄弟姐妹\n"
            f"{city.GRANDMOTHER},奶奶,{city.ZHOUXIANG},H1,母亲\n"
            f"{city.SINGLE},单,{city.BAISHA},H2,户主\n"
            f"{city.LONER},独,{city.BAISHA},,\n"
        ),
        employment=(
            "id_number,credit_code,basis,start_date,end_date,frontline\n"
            f"{city.FATHER},{city.E1},劳动合同,2022-01-01,,true\n"
            f"{city.UNCLE},{city.E3},个体工商户,2020-01-01,,\n"
        ),
    )
    load_city(SYSTEM_ACTOR, session, folder)
    assert dict(session.execute(select(Town.code, Town.kind)).all()) == {
        city.ZHOUXIANG: "town",
        city.BAISHA: "subdistrict",
    }
    assert dict(
        session.execute(select(ResidencePermit.permit_number, ResidencePermit.status)).all()
    ) == {"P1": "valid", "P2": "expired", "P3": "cancelled"}
    relations = dict(session.execute(select(Resident.id_number, Resident.relation_to_head)).all())
    assert (relations[city.FATHER], relations[city.MOTHER], relations[city.GRANDMOTHER]) == (
        "head",
        "spouse",
        "parent",
    )
    assert sorted(session.scalars(select(Employment.basis))) == [
        "business_licence",
        "labour_contract",
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = (
        f"sqlite:///{tmp_path / 'city.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_postgres_url")
    )
    env = {"LUODI_DATABASE_URL": url}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    return env


def test_a_refused_load_says_how_many_and_writes_them_all(
    database: dict[str, str], tmp_path: Path
) -> None:
    # More problems than an error lists (50): the report holds every one of them.
    bad = "".join(f"{city.FATHER},父,{city.ZHOUXIANG},H1,head\n" for _ in range(120))
    folder = city.write_family_city(
        tmp_path / "city",
        residents="id_number,name,town_code,household_number,relation_to_head\n" + bad,
    )
    refused = run_luodi("load", str(folder), env=database)
    assert refused.returncode != 0
    report = tmp_path / "city.rejected.csv"
    assert str(report) in refused.stderr
    assert "problems found" in refused.stderr
    rows = pl.read_csv(report)
    found = re.search(r"(\d+) problems found", refused.stderr)
    assert found is not None
    assert rows.height == int(found.group(1)) > 50  # all of them, not the ten shown
    assert set(rows["文件 file"]) >= {"residents.csv"}
    assert city.FATHER not in report.read_text("utf-8-sig")  # masked
