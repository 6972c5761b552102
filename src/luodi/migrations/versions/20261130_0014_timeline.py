"""Time line: permit endorsements and insurance by month.

(Stub created by the coordinator for helpers A/B (time line, insurance); replace this docstring and fill in.)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
