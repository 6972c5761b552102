"""Residents' accounts as the city runs them: an account made at the service counter (or from
the registered phone) waits for its one-time activation code (``users.activated_at`` null
until then); the codes of activation and password reset (``account_codes``, only a keyed
digest of each code).

Revision ID: 0025
Revises: 0026
Create Date: 2026-11-30 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = "0025"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("activated_at", UtcDateTime(timezone=True), nullable=True))
    # Every account made before had its password from the start: activated when made.
    op.execute("UPDATE users SET activated_at = created_at")
    op.create_table(
        "account_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", UtcDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_codes")),
    )
    with op.batch_alter_table("account_codes") as batch:
        batch.create_index("ix_account_codes_user_purpose", ["user_id", "purpose"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_codes") as batch:
        batch.drop_index("ix_account_codes_user_purpose")
    op.drop_table("account_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("activated_at")
