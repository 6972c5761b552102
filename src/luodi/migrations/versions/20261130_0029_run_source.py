"""Where a scoring run was scored: empty for ``luodi score`` here, the dataset's name and
engine for a run imported from a province's scored dataset (``luodi import scores``).

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_runs") as batch:
        batch.add_column(sa.Column("source", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scoring_runs") as batch:
        batch.drop_column("source")
