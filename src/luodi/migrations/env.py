"""Alembic environment: the URL comes from the caller (``luodi db upgrade``) or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from luodi.all_models import Base
from luodi.db import get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with get_engine(config.get_main_option("sqlalchemy.url")).connect() as new_connection:
        run_migrations(new_connection)
        new_connection.commit()
