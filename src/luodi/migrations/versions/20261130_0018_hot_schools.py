"""Hot schools are declared when a cycle opens (``cycle_targets.hot``, with where that came
from: listed by the operator or derived from the previous cycle's first-choice demand), and
each result says how it was placed (``allocation_results.placement``: by choice, 直接申请,
就近 in the own town or 统筹 in the nearest town).

Targets opened before are not hot (their cycles were decided by this cycle's demand, and
their runs stay as stored); results stored before have no placement.

Revision ID: 0018
Revises: 0022
Create Date: 2026-11-30 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycle_targets") as batch:
        batch.add_column(
            sa.Column("hot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("hot_source", sa.String(length=16), nullable=True))
    with op.batch_alter_table("allocation_results") as batch:
        batch.add_column(sa.Column("placement", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.drop_column("placement")
    with op.batch_alter_table("cycle_targets") as batch:
        batch.drop_column("hot_source")
        batch.drop_column("hot")
