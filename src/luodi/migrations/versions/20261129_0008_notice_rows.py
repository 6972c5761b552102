"""Notices: rows stored as rows (paged in SQL); XLSX/PDF rendered once at publish.

The frozen JSON of each notice (``notices.rows_json``) becomes ``notice_rows`` (one row per
published row, at its position) and each amendment's changes (``changes_json``) become
``notice_changes``; the digests are untouched (they cover the same objects, recomputed from
the rows). An allocation notice records the scoring run its allocation was built on.
Exports of existing notices are rendered by ``luodi notice render`` (fonts are not the
migration's business).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 20:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_COLUMNS = [
    sa.Column("ref", sa.String(length=40), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=True),
    sa.Column("id_number", sa.String(length=32), nullable=True),
    sa.Column("child_name", sa.String(length=100), nullable=True),
    sa.Column("child_id_number", sa.String(length=32), nullable=True),
    sa.Column("outcome", sa.String(length=40), nullable=True),
    sa.Column("target_name", sa.String(length=200), nullable=True),
    sa.Column("unit", sa.String(length=64), nullable=True),
    sa.Column("choice_rank", sa.Integer(), nullable=True),
    sa.Column("priority_group", sa.Integer(), nullable=True),
    sa.Column("points", sa.Float(), nullable=True),
    sa.Column("rank", sa.Integer(), nullable=True),
    sa.Column("lottery", sa.String(length=40), nullable=True),
    sa.Column("reason_zh", sa.Text(), nullable=True),
    sa.Column("town_code", sa.String(length=12), nullable=True),
]
ROW_KEYS = [column.name for column in ROW_COLUMNS]
ALLOCATION_KEYS = [
    "ref",
    "name",
    "id_number",
    "child_name",
    "child_id_number",
    "outcome",
    "target_name",
    "unit",
    "choice_rank",
    "priority_group",
    "points",
    "rank",
    "lottery",
    "reason_zh",
]
SCORING_KEYS = ["ref", "name", "id_number", "town_code", "points", "rank"]
CHUNK = 5_000

notices = sa.table(
    "notices",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("allocation_run_id", sa.Integer),
    sa.column("scoring_run_id", sa.Integer),
    sa.column("rows_json", sa.Text),
)
amendments = sa.table(
    "notice_amendments", sa.column("id", sa.Integer), sa.column("changes_json", sa.Text)
)
allocation_runs = sa.table(
    "allocation_runs", sa.column("id", sa.Integer), sa.column("scoring_run_id", sa.Integer)
)
rows_table = sa.table(
    "notice_rows",
    sa.column("notice_id", sa.Integer),
    sa.column("position", sa.Integer),
    *[sa.column(name) for name in ROW_KEYS],
)
changes_table = sa.table(
    "notice_changes",
    sa.column("amendment_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("ref", sa.String),
    sa.column("name", sa.String),
    sa.column("before", sa.Text),
    sa.column("after", sa.Text),
)


def _insert(connection: sa.Connection, table: sa.TableClause, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(table.insert(), rows[start : start + CHUNK])


def _drop_column(table: str, column: str) -> None:
    """A plain ``ALTER TABLE … DROP COLUMN`` (SQLite 3.35+ and PostgreSQL), not a batch
    rebuild: rebuilding ``notices`` on SQLite drops the table that objections, rows and
    amendments point at, which foreign-key enforcement refuses once any exist."""
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def upgrade() -> None:
    op.create_table(
        "notice_rows",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        *ROW_COLUMNS,
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_rows_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("notice_id", "position", name=op.f("pk_notice_rows")),
    )
    with op.batch_alter_table("notice_rows", schema=None) as batch_op:
        batch_op.create_index("ix_notice_rows_notice_id_ref", ["notice_id", "ref"], unique=False)
    op.create_table(
        "notice_exports",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("rows_digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column(
            "rendered_at",
            UtcDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_exports_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("notice_id", "format", name=op.f("pk_notice_exports")),
    )
    op.create_table(
        "notice_changes",
        sa.Column("amendment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amendment_id"],
            ["notice_amendments.id"],
            name=op.f("fk_notice_changes_amendment_id_notice_amendments"),
        ),
        sa.PrimaryKeyConstraint("amendment_id", "position", name=op.f("pk_notice_changes")),
    )
    # Added in place (a literal default: an expression would make SQLite rebuild the table).
    with op.batch_alter_table("notice_amendments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scoring_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("other_scoring_run", sa.Boolean(), server_default="0", nullable=False)
        )

    connection = op.get_bind()
    for notice_id, text in connection.execute(sa.select(notices.c.id, notices.c.rows_json)):
        rows = [
            {"notice_id": notice_id, "position": position, **dict.fromkeys(ROW_KEYS), **row}
            for position, row in enumerate(json.loads(text or "[]"), start=1)
        ]
        _insert(connection, rows_table, rows)
    for amendment_id, text in connection.execute(
        sa.select(amendments.c.id, amendments.c.changes_json)
    ):
        changes = [
            {
                "amendment_id": amendment_id,
                "position": position,
                "ref": str(change["ref"]),
                "name": change.get("name"),
                "before": change.get("before") or "—",
                "after": change.get("after") or "—",
            }
            for position, change in enumerate(json.loads(text or "[]"), start=1)
        ]
        _insert(connection, changes_table, changes)
    built_on = (
        sa.select(allocation_runs.c.scoring_run_id)
        .where(allocation_runs.c.id == notices.c.allocation_run_id)
        .scalar_subquery()
    )
    connection.execute(
        notices.update()
        .where(notices.c.kind == "allocation", notices.c.scoring_run_id.is_(None))
        .values(scoring_run_id=built_on)
    )
    _drop_column("notices", "rows_json")
    _drop_column("notice_amendments", "changes_json")


def downgrade() -> None:
    # NOT NULL with an empty default, filled below: in place, without rebuilding the tables.
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows_json", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("notice_amendments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changes_json", sa.Text(), server_default="", nullable=False))

    connection = op.get_bind()
    for notice_id, kind in connection.execute(sa.select(notices.c.id, notices.c.kind)).all():
        keys = ALLOCATION_KEYS if kind == "allocation" else SCORING_KEYS
        rows = connection.execute(
            sa.select(*[rows_table.c[key] for key in keys])
            .where(rows_table.c.notice_id == notice_id)
            .order_by(rows_table.c.position)
        ).all()
        text = json.dumps([dict(zip(keys, row, strict=True)) for row in rows], ensure_ascii=False)
        connection.execute(notices.update().where(notices.c.id == notice_id).values(rows_json=text))
    for (amendment_id,) in connection.execute(sa.select(amendments.c.id)).all():
        changes = connection.execute(
            sa.select(
                changes_table.c.ref,
                changes_table.c.name,
                changes_table.c.before,
                changes_table.c.after,
            )
            .where(changes_table.c.amendment_id == amendment_id)
            .order_by(changes_table.c.position)
        ).all()
        text = json.dumps(
            [dict(zip(("ref", "name", "before", "after"), row, strict=True)) for row in changes],
            ensure_ascii=False,
        )
        connection.execute(
            amendments.update().where(amendments.c.id == amendment_id).values(changes_json=text)
        )
    # Before this revision an allocation notice named no scoring run.
    connection.execute(
        notices.update().where(notices.c.kind == "allocation").values(scoring_run_id=None)
    )

    _drop_column("notice_amendments", "other_scoring_run")
    _drop_column("notice_amendments", "scoring_run_id")
    op.drop_table("notice_changes")
    op.drop_table("notice_exports")
    with op.batch_alter_table("notice_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_rows_notice_id_ref")
    op.drop_table("notice_rows")
