"""The entry-grade intakes of past school years (school_intakes.csv), for the school-place
forecast (教育发展预警).

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "school_intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_year", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.String(length=64), nullable=False),
        sa.Column("school_name", sa.String(length=200), nullable=True),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("applicants", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.Column(
            "loaded_at", UtcDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_intakes")),
        sa.UniqueConstraint(
            "school_year", "school_id", "grade", name=op.f("uq_school_intakes_school_year")
        ),
    )
    with op.batch_alter_table("school_intakes") as batch:
        batch.create_index(batch.f("ix_school_intakes_school_id"), ["school_id"])
        batch.create_index(batch.f("ix_school_intakes_town_code"), ["town_code"])


def downgrade() -> None:
    with op.batch_alter_table("school_intakes") as batch:
        batch.drop_index(batch.f("ix_school_intakes_town_code"))
        batch.drop_index(batch.f("ix_school_intakes_school_id"))
    op.drop_table("school_intakes")
