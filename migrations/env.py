"""Alembic's entry point for this history (see migrations/__init__.py).

Run by ``migrations.upgrade()`` on a connection it opened (in a transaction,
holding the migration lock), or by the ``alembic`` command with alembic.ini
(``alembic revision --autogenerate``), which connects to DATABASE_URL (or
var/store.db) itself.
"""
from __future__ import annotations

import logging.config

from alembic import context

import migrations

config = context.config

if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: the first revision inspects the database")


def _run(connection) -> None:
    # The models are what autogenerate compares with; ``upgrade()`` does not
    # need them (importing the Telegram channel costs about a second).
    with_models = config.attributes.get("with_models", True)
    context.configure(
        connection=connection,
        target_metadata=migrations.target_metadata() if with_models else None,
        transactional_ddl=True,  # also on SQLite: migration_engine runs it in BEGIN IMMEDIATE
        **migrations.compare_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # The alembic command line: log as alembic.ini says, connect ourselves.
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    from core.store import default_database_url

    url = config.get_main_option("sqlalchemy.url") or default_database_url()
    engine = migrations.migration_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({migrations.PG_LOCK_KEY})")
            _run(conn)
    finally:
        engine.dispose()
