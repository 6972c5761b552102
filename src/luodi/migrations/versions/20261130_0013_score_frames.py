"""Scoring: typed stored inputs and points.

(Stub created by the coordinator for helper F (stored scores); replace this docstring and fill in.)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
