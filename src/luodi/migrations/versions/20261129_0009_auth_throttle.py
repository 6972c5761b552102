"""Auth: sign-in throttle per (username, client address), atomic; token revocation.

One row per throttle key replaces one row per failed sign-in: a conditional upsert on the key
decides and counts an attempt in one statement (see ``auth/service.py``), which counting rows
could not do without a race. Failures of the last 15 minutes are carried over as counts, so an
upgrade in the middle of an attack does not hand the attacker fresh attempts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from luodi.db import UtcDateTime

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANY_USER = ''
"""The username of a client address's own row (no account is named by the empty string)."""
WINDOW = timedelta(minutes=15)
FREE_ATTEMPTS = 5


def upgrade() -> None:
    throttles = op.create_table(
        'sign_in_throttles',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('window_started_at', UtcDateTime(timezone=True), nullable=False),
        sa.Column('next_try_at', UtcDateTime(timezone=True), nullable=True),
        sa.Column('checking_until', UtcDateTime(timezone=True), nullable=True),
        sa.Column('updated_at', UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'client', name=op.f('pk_sign_in_throttles')),
    )
    failures = sa.table(
        'login_failures',
        sa.column('username', sa.String()),
        sa.column('client', sa.String()),
        sa.column('at', UtcDateTime()),
    )
    now = datetime.now(UTC)
    recent = failures.c.at >= now - WINDOW
    connection = op.get_bind()
    rows = []
    per_pair = sa.select(
        failures.c.username, failures.c.client, sa.func.count(), sa.func.min(failures.c.at)
    ).where(recent, failures.c.username != ANY_USER).group_by(failures.c.username, failures.c.client)
    for username, client, count, first in connection.execute(per_pair):
        # A pair already past its free attempts waits one second, like after a fresh failure.
        wait = now + timedelta(seconds=1) if count >= FREE_ATTEMPTS else None
        rows.append((username, client, count, first, wait))
    per_client = sa.select(failures.c.client, sa.func.count(), sa.func.min(failures.c.at)).where(
        recent
    ).group_by(failures.c.client)
    for client, count, first in connection.execute(per_client):
        rows.append((ANY_USER, client, count, first, None))
    if rows:
        op.bulk_insert(
            throttles,
            [
                {
                    'username': username,
                    'client': client,
                    'attempts': count,
                    'window_started_at': first,
                    'next_try_at': wait,
                    'checking_until': None,
                    'updated_at': now,
                }
                for username, client, count, first, wait in rows
            ],
        )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_username'))
        batch_op.drop_index(batch_op.f('ix_login_failures_client'))
    op.drop_table('login_failures')


def downgrade() -> None:
    failures = op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_client'), ['client'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_failures_username'), ['username'], unique=False)
    # Each counted attempt of a (username, client) pair becomes a failure row again (at the
    # time of its last attempt; the old throttle locked after 5, so 30 rows are plenty).
    throttles = sa.table(
        'sign_in_throttles',
        sa.column('username', sa.String()),
        sa.column('client', sa.String()),
        sa.column('attempts', sa.Integer()),
        sa.column('updated_at', UtcDateTime()),
    )
    pairs = sa.select(
        throttles.c.username, throttles.c.client, throttles.c.attempts, throttles.c.updated_at
    ).where(throttles.c.username != ANY_USER)
    rows = [
        {'username': username, 'client': client, 'at': at}
        for username, client, attempts, at in op.get_bind().execute(pairs)
        for _ in range(min(attempts, 30))
    ]
    if rows:
        op.bulk_insert(failures, rows)
    op.drop_table('sign_in_throttles')
