"""Towns as a registry feed (feeds/towns.yaml): a city starts from a department's file of its
townships, checked by the registry like ``luodi town add``; counted from the first write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.feeds import service as feeds
from luodi.registry import service
from luodi.registry.models import Town
from tests import factories

TOWNS = "镇街代码,镇街名称,类型\n330282001,白沙路街道,街道\n330282114,周巷镇,镇\n"


def write(folder: Path, text: str, encoding: str = "utf-8") -> Path:
    path = folder / "乡镇街道.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_city_starts_from_a_towns_file(session: Session, tmp_path: Path) -> None:
    result = feeds.import_file(
        SYSTEM_ACTOR, session, "towns", write(tmp_path, TOWNS, "gbk"), report=None
    )
    assert result.registered == 2, result
    towns = {town.code: (town.name, town.kind) for town in session.scalars(select(Town))}
    assert towns == {
        "330282001": ("白沙路街道", "subdistrict"),
        "330282114": ("周巷镇", "town"),
    }
    # The towns are there to register in, and counted from the first resident.
    factories.resident(session, "330282114")
    counts = {town.code: town.residents for town in service.list_towns(SYSTEM_ACTOR, session)}
    assert counts == {"330282001": 0, "330282114": 1}
    # The same file again changes nothing (known codes are kept as they are).
    again = feeds.import_file(SYSTEM_ACTOR, session, "towns", write(tmp_path, TOWNS), report=None)
    assert again.registered == 0
    assert len(session.scalars(select(Town)).all()) == 2


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("330282115,周\u202e巷,镇", "bidirectional"),
        ("330281115,别县镇,镇", "not under this city"),
        ("330282000,本县,镇", "the county itself"),
    ],
)
def test_a_bad_town_row_is_named_and_nothing_is_written(
    session: Session, tmp_path: Path, row: str, reason: str
) -> None:
    with pytest.raises(Invalid) as caught:
        feeds.import_file(
            SYSTEM_ACTOR, session, "towns", write(tmp_path, TOWNS + row + "\n"), report=None
        )
    problem = caught.value.details[0]
    assert problem.row == 4  # the department's file: header on line 1, the bad row on 4
    assert problem.field == ("name" if "\u202e" in row else "code")
    assert reason in problem.reason_en
    assert session.scalars(select(Town)).all() == []
