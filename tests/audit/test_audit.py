"""The audit chain on SQLite and PostgreSQL: every change appends, and any edit, removal or
reordering of an entry is found at that entry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from luodi.audit import service as audit
from luodi.auth import service as auth
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden, Unauthorized
from luodi.registry import service as registry
from luodi.registry.schemas import TownCreate
from tests.test_cli import run_luodi

PASSWORD = "correct horse battery"


def _changes(session: Session) -> None:
    registry.create_town(SYSTEM_ACTOR, session, TownCreate(code="330282001", name="浒山街道"))
    registry.create_town(SYSTEM_ACTOR, session, TownCreate(code="330282002", name="白沙路街道"))
    auth.add_user(SYSTEM_ACTOR, session, "alice", "town_staff", PASSWORD, town_code="330282001")
    auth.disable_user(SYSTEM_ACTOR, session, "alice")


def test_changes_append_a_linked_chain(session: Session) -> None:
    _changes(session)
    check = audit.verify(SYSTEM_ACTOR, session)
    assert check.intact and check.entries == 4
    history = audit.history(SYSTEM_ACTOR, session, "user", "alice")
    assert [entry.action for entry in history] == ["user.add", "user.disable"]
    assert history[0].after_digest == history[1].before_digest  # the same state, digested once
    assert history[1].prev_hash != audit.GENESIS
    # The password hash and the full ID number are never in an entry.
    details = session.execute(text("SELECT detail FROM audit_entries")).scalars().all()
    assert all(PASSWORD not in (detail or "") for detail in details)


@pytest.mark.parametrize(
    ("statement", "broken", "intact"),
    [
        ("UPDATE audit_entries SET action = 'town.remove' WHERE seq = 2", 2, 1),
        ("UPDATE audit_entries SET after_digest = NULL WHERE seq = 3", 3, 2),
        ("DELETE FROM audit_entries WHERE seq = 2", 3, 1),
        ("UPDATE audit_entries SET actor = 'someone' WHERE seq = 1", 1, 0),
    ],
)
def test_a_tampered_entry_is_found_where_it_was_changed(
    session: Session, statement: str, broken: int, intact: int
) -> None:
    _changes(session)
    session.execute(text(statement))
    check = audit.verify(SYSTEM_ACTOR, session)
    assert not check.intact
    assert check.broken_seq == broken
    assert check.entries == intact


def test_relinking_after_an_edit_is_still_found(session: Session) -> None:
    """Rewriting an entry and its own hash breaks the link of the next one."""
    _changes(session)
    entry = audit.history(SYSTEM_ACTOR, session, "town", "330282002")[0]
    entry.action = "town.remove"
    entry.hash = audit.entry_hash(entry)
    session.flush()
    check = audit.verify(SYSTEM_ACTOR, session)
    assert check.broken_seq == entry.seq + 1


def test_only_auditors_and_admins_read_the_log(session: Session) -> None:
    _changes(session)
    assert audit.verify(Actor("a", Role.AUDITOR), session).intact
    with pytest.raises(Forbidden):
        audit.verify(Actor("o", Role.OPERATOR), session)
    with pytest.raises(Unauthorized):
        audit.history(Actor("p", Role.PUBLIC), session, "user", "alice")


def test_cli_verify_names_the_first_broken_entry(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    env = {"LUODI_DATABASE_URL": f"sqlite:///{database}"}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    for name, role in [("ops", "operator"), ("checker", "auditor")]:
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "luodi",
                "user",
                "add",
                name,
                "--role",
                role,
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
        )
        assert added.returncode == 0, added.stderr
    short = subprocess.run(
        [
            sys.executable,
            "-m",
            "luodi",
            "user",
            "add",
            "x1",
            "--role",
            "operator",
            "--password-stdin",
        ],
        input="short\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert short.returncode == 1 and "password" in short.stderr
    listed = run_luodi("user", "list", env=env)
    assert "ops" in listed.stdout and "checker" in listed.stdout
    intact = run_luodi("audit", "verify", env=env)
    assert intact.returncode == 0, intact.stderr
    assert "2 条" in intact.stdout
    shown = run_luodi("audit", "show", "--object", "user:ops", env=env)
    assert "user.add" in shown.stdout
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE audit_entries SET role = 'admin' WHERE seq = 2")
    broken = run_luodi("audit", "verify", env=env)
    assert broken.returncode == 1
    assert "第 2 条" in broken.stderr and "entry 2" in broken.stderr
    bad = run_luodi("audit", "show", "--object", "nocolon", env=env)
    assert bad.returncode == 1 and "TYPE:ID" in bad.stderr
