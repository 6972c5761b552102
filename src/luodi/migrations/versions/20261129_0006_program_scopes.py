"""Programs: the owning department stored on each cycle (scoping in SQL); an application no
longer carries a household size (the registry counts it at allocation).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('program_cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=32), nullable=True))
    # Backfill from the program document each cycle keeps (its `department:` line).
    connection = op.get_bind()
    cycles = sa.table(
        'program_cycles',
        sa.column('id', sa.Integer),
        sa.column('program_text', sa.Text),
        sa.column('department', sa.String),
    )
    import yaml

    for cycle_id, text in connection.execute(sa.select(cycles.c.id, cycles.c.program_text)).all():
        document = yaml.safe_load(text) or {}
        connection.execute(
            cycles.update()
            .where(cycles.c.id == cycle_id)
            .values(department=str(document.get('department', '')))
        )
    with op.batch_alter_table('program_cycles', schema=None) as batch_op:
        batch_op.alter_column('department', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f('ix_program_cycles_department'), ['department'], unique=False)
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('household_size')


def downgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_size', sa.Integer(), nullable=True))
    with op.batch_alter_table('program_cycles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_program_cycles_department'))
        batch_op.drop_column('department')
