"""What a once-only benefit was granted for: ``allocation_results.granted_for`` (the
education subsidy's graduation level, once per person per level; ``once_per`` in a program
document). Earlier results have none.

Revision ID: 0022
Revises: 0017
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.add_column(sa.Column("granted_for", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.drop_column("granted_for")
