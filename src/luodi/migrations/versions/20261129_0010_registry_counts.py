"""Registry: per-town counts kept current on write.

Residents and accompanying children per town, and valid permits per town and expiry date
(a permit is valid on a day when it expires on or after it, so any day's count is a sum over
these rows). Backfilled from the rows already stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'town_counts',
        sa.Column('town_id', sa.Integer(), nullable=False),
        sa.Column('residents', sa.Integer(), nullable=False),
        sa.Column('children', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_town_counts_town_id_towns')),
        sa.PrimaryKeyConstraint('town_id', name=op.f('pk_town_counts')),
    )
    op.create_table(
        'town_permit_counts',
        sa.Column('town_id', sa.Integer(), nullable=False),
        sa.Column('expiry_date', sa.Date(), nullable=False),
        sa.Column('permits', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['town_id'], ['towns.id'], name=op.f('fk_town_permit_counts_town_id_towns')
        ),
        sa.PrimaryKeyConstraint('town_id', 'expiry_date', name=op.f('pk_town_permit_counts')),
    )
    with op.batch_alter_table('town_permit_counts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_town_permit_counts_valid_from',
            ['town_id', 'expiry_date', 'permits'],
            unique=False,
        )
    op.execute(
        """
        INSERT INTO town_counts (town_id, residents, children)
        SELECT towns.id,
               (SELECT count(*) FROM residents WHERE residents.town_id = towns.id),
               (SELECT count(*) FROM children
                  JOIN households ON households.id = children.household_id
                 WHERE households.town_id = towns.id)
          FROM towns
        """
    )
    op.execute(
        """
        INSERT INTO town_permit_counts (town_id, expiry_date, permits)
        SELECT town_id, expiry_date, count(*)
          FROM residence_permits
         WHERE status = 'valid'
         GROUP BY town_id, expiry_date
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('town_permit_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_town_permit_counts_valid_from')
    op.drop_table('town_permit_counts')
    op.drop_table('town_counts')
