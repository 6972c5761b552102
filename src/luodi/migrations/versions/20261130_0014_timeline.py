"""Time line: permit endorsements and insurance by month.

A (permit time line): ``residence_permits.status_date``, since when the permit's status holds
(a cancellation's date), nullable: permits loaded before say nothing, and the time line then
ends a cancelled permit by the next permit's issue or the scoring date (docs/policy.md).
Endorsements are facts (``permit_endorsement``): no table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A: permit time line
    with op.batch_alter_table('residence_permits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_date', sa.Date(), nullable=True))
    # B: insurance by month


def downgrade() -> None:
    # B: insurance by month
    # A: permit time line
    with op.batch_alter_table('residence_permits', schema=None) as batch_op:
        batch_op.drop_column('status_date')
