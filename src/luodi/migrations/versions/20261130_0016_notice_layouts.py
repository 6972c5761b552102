"""Notices say what was decided in the program's own words: a notice's layout (its columns,
by program kind) and two published columns, the town's name and the amount of a tiered
benefit.

Notices published before keep a null layout and their columns (``PUBLIC_COLUMNS``), so their
digests still verify.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("layout", sa.String(length=24), nullable=True))
    with op.batch_alter_table("notice_rows") as batch:
        batch.add_column(sa.Column("town", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("amount", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_rows") as batch:
        batch.drop_column("amount")
        batch.drop_column("town")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("layout")
