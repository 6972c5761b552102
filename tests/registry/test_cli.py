"""``luodi town add``, ``luodi town list`` and ``luodi resident …`` as a user runs them: a
city that starts from nothing, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import id_number
from tests.test_cli import run_luodi


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    url = (
        f"sqlite:///{tmp_path / 'town.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_postgres_url")
    )
    env = {"LUODI_DATABASE_URL": url}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    return env


def test_a_city_starts_from_nothing(database: dict[str, str]) -> None:
    added = run_luodi("town", "add", "330282114", "周巷镇", env=database)
    assert added.returncode == 0, added.stderr
    assert "330282114" in added.stdout
    street = run_luodi(
        "town", "add", "330282001", "白沙路街道", "--kind", "subdistrict", env=database
    )
    assert street.returncode == 0, street.stderr

    again = run_luodi("town", "add", "330282114", "周巷", env=database)
    assert again.returncode == 1
    assert "已存在" in again.stderr and "already exists" in again.stderr
    assert "Traceback" not in again.stderr

    person = run_luodi(
        "resident",
        "add",
        "--id-number",
        id_number(),
        "--name",
        "张三",
        "--town",
        "330282114",
        env=database,
    )
    assert person.returncode == 0, person.stderr
    listing = run_luodi("town", "list", env=database)
    assert listing.returncode == 0, listing.stderr
    line = next(row for row in listing.stdout.splitlines() if "周巷镇" in row)
    assert line.split("│")[3].strip() == "1"  # residents, counted on write


BAD_TOWNS = [
    ("33028211", "某镇", "9 or 12 digits"),
    ("33028211X", "某镇", "9 or 12 digits"),
    ("990282114", "某镇", "no province"),
    ("330282000", "某镇", "the county itself"),
    ("330281114", "某镇", "not under this city"),  # another county than the first town's
    ("330282115", "镇\u202e名", "bidirectional"),
    ("330282116", "  ", "empty"),
]


def test_town_add_refuses_bad_input_in_two_languages(database: dict[str, str]) -> None:
    assert run_luodi("town", "add", "330282114", "周巷镇", env=database).returncode == 0
    for code, name, reason in BAD_TOWNS:
        refused = run_luodi("town", "add", code, name, env=database)
        assert refused.returncode == 1, code
        assert reason in refused.stderr, (code, refused.stderr)
        assert "Traceback" not in refused.stderr
        assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.stderr)  # Chinese first


def test_resident_correct_moves_and_refuses_bad_names(database: dict[str, str]) -> None:
    for code, name in (("330282114", "周巷镇"), ("330282101", "观海卫镇")):
        assert run_luodi("town", "add", code, name, env=database).returncode == 0
    assert (
        run_luodi(
            "resident",
            "add",
            "--id-number",
            id_number(),
            "--name",
            "张三",
            "--town",
            "330282114",
            env=database,
        ).returncode
        == 0
    )
    moved = run_luodi("resident", "correct", "1", "--town", "330282101", env=database)
    assert moved.returncode == 0, moved.stderr
    bad = run_luodi("resident", "correct", "1", "--name", "张\u2066三", env=database)
    assert bad.returncode == 1 and "name" in bad.stderr
    missing = run_luodi("resident", "show", str(2**40), env=database)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    # By ID number as well as by the registry's number; an unknown or malformed one is a
    # bilingual error that does not echo the number in full.
    number = id_number()
    shown = run_luodi("resident", "show", number.lower(), env=database)
    assert shown.returncode == 0, shown.stderr
    assert '"id": 1' in shown.stdout and number not in shown.stdout
    for wrong in (id_number(sequence=999), "33028219900101123", "²", "１２"):
        refused = run_luodi("resident", "show", wrong, env=database)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert wrong not in refused.stderr and "无效" in refused.stderr
    listing = run_luodi("town", "list", env=database).stdout
    assert (
        next(row for row in listing.splitlines() if "观海卫镇" in row).split("│")[3].strip() == "1"
    )
