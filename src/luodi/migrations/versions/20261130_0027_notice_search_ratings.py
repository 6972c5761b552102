"""Notices searchable by the masked name and the last four of the ID number: each row keeps
the last four characters of the applicant's and the child's ID numbers beside it (never
published: outside the layouts, the digest and the files), indexed with the masked name. Rows
published before are filled from the registry (allocation and qualification rows by their
application, score rows by their resident). And 好差评: a resident's rating of a closed case.

Revision ID: 0027
Revises: 0025
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _last_four(column: str) -> str:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return f"upper(right({column}, 4))"
    return f"upper(substr({column}, -4))"


def _fill_tails() -> None:
    """The search keys of the rows published before this revision (their refs are digits:
    application ids, or resident ids on a score ranking)."""
    ref = "CAST(notice_rows.ref AS INTEGER)"
    op.execute(
        f"""UPDATE notice_rows SET
          id_tail = (SELECT {_last_four("r.id_number")} FROM applications a
                     JOIN residents r ON r.id = a.resident_id WHERE a.id = {ref}),
          child_id_tail = (SELECT {_last_four("c.id_number")} FROM applications a
                           JOIN children c ON c.id = a.child_id WHERE a.id = {ref})
        WHERE notice_id IN (SELECT id FROM notices
                            WHERE kind IN ('allocation', 'qualification'))"""
    )
    op.execute(
        f"""UPDATE notice_rows SET
          id_tail = (SELECT {_last_four("r.id_number")} FROM residents r WHERE r.id = {ref})
        WHERE notice_id IN (SELECT id FROM notices WHERE kind = 'scoring')"""
    )


def upgrade() -> None:
    with op.batch_alter_table("notice_rows") as batch:
        batch.add_column(sa.Column("id_tail", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("child_id_tail", sa.String(length=4), nullable=True))
        batch.create_index("ix_notice_rows_search", ["notice_id", "name", "id_tail"])
        batch.create_index(
            "ix_notice_rows_child_search", ["notice_id", "child_name", "child_id_tail"]
        )
    _fill_tails()
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("case_kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column(
            "created_at", UtcDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_ratings_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint(
            "case_kind", "case_id", "resident_id", name=op.f("uq_ratings_case_kind")
        ),
    )
    with op.batch_alter_table("ratings") as batch:
        batch.create_index(batch.f("ix_ratings_resident_id"), ["resident_id"])
        batch.create_index("ix_ratings_month_program_id", ["month", "program_id"])


def downgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.drop_index("ix_ratings_month_program_id")
        batch.drop_index(batch.f("ix_ratings_resident_id"))
    op.drop_table("ratings")
    with op.batch_alter_table("notice_rows") as batch:
        batch.drop_index("ix_notice_rows_child_search")
        batch.drop_index("ix_notice_rows_search")
        batch.drop_column("child_id_tail")
        batch.drop_column("id_tail")
