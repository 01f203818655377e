"""Alembic environment for recorder journals.

Run through :mod:`recorder.journal.migrate` (``recorder db upgrade``), which passes an open
SQLAlchemy connection in ``config.attributes["connection"]``; a plain ``alembic`` call may instead
set ``sqlalchemy.url``. Migrations use batch mode so SQLite tables can be altered.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from recorder.journal.schema import metadata

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
