"""Lint: scoping lives in ``auth/`` only. Outside it no module compares ``actor.role`` (or
tests it with ``in``): services, routers and pages ask ``permissions.require``/``acts_as`` and
filter rows with ``repository.readable/writable`` built from ``auth/scopes.py``."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "luodi"


def _role_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for part in (node.left, *node.comparators):
            for inner in ast.walk(part):
                if isinstance(inner, ast.Attribute) and inner.attr == "role":
                    lines.append(node.lineno)
    return lines


def test_no_role_checks_outside_auth() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        if relative.parts[0] in ("auth", "migrations"):
            continue
        for line in _role_reads(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{relative}:{line}")
    assert offenders == [], f"role checks outside auth/ (use require/acts_as/scopes): {offenders}"


def test_the_lint_finds_a_role_check() -> None:
    """The check is not vacuous: it finds the shapes it forbids."""
    assert _role_reads(ast.parse("if actor.role == Role.RESIDENT: pass")) == [1]
    assert _role_reads(ast.parse("x = actor.role in (Role.A, Role.B)")) == [1]
    assert _role_reads(ast.parse("record(role=str(actor.role))")) == []
