"""Registry: who is family, employers' unions, frontline posts.

- ``residents.relation_to_head`` (与户主关系: head/spouse/child/parent/sibling/other);
- ``children.parent_id`` (the resident who registered the child), ``second_parent_id_number``
  (另一方父母（监护人）身份证号, as the feed gave it) and ``second_parent_id`` (that resident,
  once registered): a child's parents are these two, never other adults of the household;
- ``employer_unions`` (总工会: whether an employer has a trade union, since when);
- ``employments.frontline`` (一线岗位).

Every new column is nullable: rows loaded before say nothing about relations, parents, unions
or posts, and "unknown" is not "no".

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('relation_to_head', sa.String(length=8), nullable=True))

    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('second_parent_id_number', sa.String(length=18), nullable=True)
        )
        batch_op.add_column(sa.Column('second_parent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_children_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_children_second_parent_id'), ['second_parent_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_children_second_parent_id_number'),
            ['second_parent_id_number'],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_children_parent_id_residents'), 'residents', ['parent_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_children_second_parent_id_residents'),
            'residents',
            ['second_parent_id'],
            ['id'],
        )

    op.create_table(
        'employer_unions',
        sa.Column('employer_id', sa.Integer(), nullable=False),
        sa.Column('has_union', sa.Boolean(), nullable=False),
        sa.Column('established_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ['employer_id'], ['employers.id'], name=op.f('fk_employer_unions_employer_id_employers')
        ),
        sa.PrimaryKeyConstraint('employer_id', name=op.f('pk_employer_unions')),
    )

    with op.batch_alter_table('employments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frontline', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('employments', schema=None) as batch_op:
        batch_op.drop_column('frontline')

    op.drop_table('employer_unions')

    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_children_second_parent_id_residents'), type_='foreignkey'
        )
        batch_op.drop_constraint(batch_op.f('fk_children_parent_id_residents'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_children_second_parent_id_number'))
        batch_op.drop_index(batch_op.f('ix_children_second_parent_id'))
        batch_op.drop_index(batch_op.f('ix_children_parent_id'))
        batch_op.drop_column('second_parent_id')
        batch_op.drop_column('second_parent_id_number')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('relation_to_head')
