"""Application drafts: a resident's task list answers kept until the application is submitted
(``/my/apply/{cycle}``: saving and coming back), one per account, cycle and person; and an
index on the audit log's object (an application's time line reads its entries by object).

Revision ID: 0026
Revises: 0024
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = "0026"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "application_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=40), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column(
            "created_at", UtcDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", UtcDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["program_cycles.id"],
            name=op.f("fk_application_drafts_cycle_id_program_cycles"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_application_drafts_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_drafts")),
        sa.UniqueConstraint(
            "username",
            "cycle_id",
            "person",
            name=op.f("uq_application_drafts_username"),
        ),
    )
    with op.batch_alter_table("application_drafts") as batch:
        batch.create_index(batch.f("ix_application_drafts_username"), ["username"], unique=False)
        batch.create_index(
            batch.f("ix_application_drafts_resident_id"), ["resident_id"], unique=False
        )
        batch.create_index(batch.f("ix_application_drafts_cycle_id"), ["cycle_id"], unique=False)
    with op.batch_alter_table("audit_entries") as batch:
        batch.create_index(
            batch.f("ix_audit_entries_object"), ["object_type", "object_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_index(batch.f("ix_audit_entries_object"))
    op.drop_table("application_drafts")
