"""Employer accounts (用人单位): an account of the role ``employer`` is bound to the
employer's unified social credit code (统一社会信用代码), and files the 企业统一申请 batch of
school applications for its employees' children (docs/security.md).

Revision ID: 0023
Revises: 0018
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("credit_code", sa.String(length=18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("credit_code")
