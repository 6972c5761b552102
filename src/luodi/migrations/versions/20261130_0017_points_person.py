"""A school place's result keeps whose points it ranked with: the parent (or guardian) whose
points were the higher of the two (``allocation_results.points_resident_id``), and the notice
says which parent's points were used (``notice_rows.points_from``, a masked name, in the new
layout ``school_places``). Null for earlier runs and for a person's own application.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.add_column(sa.Column("points_resident_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("notice_rows") as batch:
        batch.add_column(sa.Column("points_from", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_rows") as batch:
        batch.drop_column("points_from")
    with op.batch_alter_table("allocation_results") as batch:
        batch.drop_column("points_resident_id")
