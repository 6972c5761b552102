"""Feeds: the owning department on each batch (scoping in SQL).

A reviewer or a department token reads the batches of its own department: the department is
stored on the batch when it is created. Existing batches take it from the feed declarations
(``LUODI_FEED_DIR``, ``feeds/*.yaml``); a batch of a feed no longer declared gets
``UNDECLARED`` and is then readable only by the roles that read everything.

Fact ids come from the database already (the ``facts.id`` column is an integer primary key:
SERIAL on PostgreSQL); the importer now draws them from that sequence, so nothing changes in
the schema for it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import yaml
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDECLARED = "（未声明）"


def _declared_departments() -> dict[str, str]:
    """Feed id → department, read from the declarations without the full checks of the
    catalog: a declaration that fails them must not block the upgrade."""
    from luodi.settings import get_settings

    departments: dict[str, str] = {}
    for path in sorted(get_settings().feed_dir.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(document, dict) and isinstance(document.get("department"), str):
            departments[str(document.get("id", path.stem))] = document["department"][:64]
    return departments


def upgrade() -> None:
    with op.batch_alter_table('feed_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=64), nullable=True))

    batches = sa.table('feed_batches', sa.column('feed', sa.String), sa.column('department', sa.String))
    for feed, department in _declared_departments().items():
        op.execute(batches.update().where(batches.c.feed == feed).values(department=department))
    op.execute(batches.update().where(batches.c.department.is_(None)).values(department=UNDECLARED))

    with op.batch_alter_table('feed_batches', schema=None) as batch_op:
        batch_op.alter_column('department', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f('ix_feed_batches_department'), ['department'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feed_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_batches_department'))
        batch_op.drop_column('department')
