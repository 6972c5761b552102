"""A tiered benefit's outcome keeps its terms beside its amount: a loan's annual rate (per
cent) and term in months (新市民贷: 4.8 %, at most 12 months). Null for every other result.

Revision ID: 0021
Revises: 0023
Create Date: 2026-11-30 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.add_column(sa.Column("rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("term_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allocation_results") as batch:
        batch.drop_column("term_months")
        batch.drop_column("rate")
