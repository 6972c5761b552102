"""Facts: no index on batch_id.

Nothing reads facts by batch but supersession, which finds a batch's facts by their range of
ids (every fact of a batch is written after the largest id before it: one writer at a time)
on both databases. The index cost every fact written a third B-tree insert (0.6 s of a
1,000,000-row re-send on SQLite) and a city's first load a third index build (1.7 s for
5 million facts).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_facts_batch_id", table_name="facts")


def downgrade() -> None:
    op.create_index("ix_facts_batch_id", "facts", ["batch_id"], unique=False)
