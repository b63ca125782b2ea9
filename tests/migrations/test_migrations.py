"""The one migration history (migrations/): databases made by mains before
Alembic upgrade keeping every row, upgrading is idempotent and safe to start
twice at once, and the models agree with the newest revision (a model change
without a revision fails here). SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import migrations
from bot.settings import ROOT
from tests.migrations.legacy import (
    BACKFILLED,
    LATER_COLUMNS,
    LATER_TABLES,
    REVISION_COLUMNS,
    STORE_TABLES,
    column_names,
    create_main_schema,
    fill_every_table,
    read_rows,
)

# reading NUMERIC back from SQLite (the rows compared are read the same way before and after)
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite.pysqlite does .not. support Decimal")

ALL_TABLES = {t.name for m in migrations.target_metadata() for t in m.sorted_tables}


def schema_diff(url: str) -> List[Any]:
    """What autogenerate would put in a new revision (nothing, if the models
    and the database agree)."""
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts=migrations.compare_options())
            return compare_metadata(context, migrations.target_metadata())
    finally:
        engine.dispose()


EARLIER = dict(drop_tables=LATER_TABLES, drop_columns=LATER_COLUMNS)
VARIANTS = {
    # what today's main leaves: every table and column, no alembic_version
    "main": {},
    # a main from before return_exchanges, handoff_turns, attachments, profiles,
    # the Telegram tables and the columns added by ALTER at start
    "earlier_main": EARLIER,
    # a store seeded by an early main whose bridge never ran
    "store_only": dict(only_tables=[t for t in STORE_TABLES if t != "return_exchanges"]),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_database_made_by_main_before_alembic_upgrades_keeping_every_row(
        empty_database_url: str, variant: str) -> None:
    url = empty_database_url
    create_main_schema(url, **VARIANTS[variant])
    before_columns = column_names(url)
    before = fill_every_table(url)
    assert before and all(len(rows) == 2 for rows in before.values())
    assert migrations.current(url) is None

    migrations.upgrade(url)

    assert migrations.current(url) == migrations.head()
    after_columns = column_names(url)
    assert set(after_columns) == ALL_TABLES
    # every old row, every old column, unchanged
    assert read_rows(url, before_columns) == before
    for table, columns in before_columns.items():
        assert after_columns[table][:len(columns)] == columns
        added = [c for c in after_columns[table] if c not in columns]
        later = REVISION_COLUMNS.get(table, {})
        assert added == [c for c in (*LATER_COLUMNS.get(table, ()), *later) if c in added]
        if added:  # old rows read NULL in the columns the upgrade added (or a later revision's default)
            constant = [c for c in added if later.get(c) is not BACKFILLED]
            assert read_rows(url, {table: constant})[table] == [tuple(later.get(c) for c in constant)] * 2
    created = read_rows(url, {t: [] for t in ALL_TABLES - set(before_columns)})
    assert all(rows == [] for rows in created.values())
    assert schema_diff(url) == []


def test_upgrading_twice_is_a_no_op(empty_database_url: str) -> None:
    url = empty_database_url
    migrations.upgrade(url)
    rows = fill_every_table(url)
    columns = column_names(url)
    statements: List[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        migrations.upgrade(url)
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.split()[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")]
    assert statements and not writes
    assert migrations.current(url) == migrations.head()
    assert column_names(url) == columns
    assert read_rows(url) == rows


def test_the_models_and_the_newest_revision_agree(empty_database_url: str) -> None:
    """Fails when a model changed without a revision: add one (docs/operations.md,
    "Schema migrations")."""
    migrations.upgrade(empty_database_url)
    assert schema_diff(empty_database_url) == []


def test_a_model_change_without_a_revision_is_found(empty_database_url: str) -> None:
    """The check above really compares: a column the head lacks shows up."""
    migrations.upgrade(empty_database_url)
    metadata = migrations.target_metadata()
    table = metadata[1].tables["handoff_episodes"]
    extra = sa.Column("not_migrated", sa.String(10), nullable=True)
    table.append_column(extra)
    try:
        diff = schema_diff(empty_database_url)
    finally:
        table._columns.remove(extra)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "handoff_episodes", "not_migrated")]


def test_two_processes_starting_together_migrate_once(empty_database_url: str) -> None:
    """Seed and bridge (or two bridges) on a new database: the lock makes the
    second wait and then find the schema at head."""
    errors: Dict[int, BaseException] = {}
    start = threading.Barrier(3)

    def migrate(n: int) -> None:
        start.wait()
        try:
            migrations.upgrade(empty_database_url)
        except BaseException as exc:  # reported below
            errors[n] = exc

    threads = [threading.Thread(target=migrate, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == {}
    assert migrations.current(empty_database_url) == migrations.head()
    assert schema_diff(empty_database_url) == []


def test_python_m_migrations_upgrades_and_says_so(tmp_path: Any) -> None:
    """What ``make migrate`` (and so ``make setup``/``make run``) runs."""
    url = f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    command = [sys.executable, "-m", "migrations", "--database-url", url]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"at revision {migrations.head()} (no revision -> {migrations.head()})" in first.stdout
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "(up to date)" in again.stdout
    unopenable = f"sqlite:///{tmp_path}"  # a folder: SQLite cannot open it
    down = subprocess.run([sys.executable, "-m", "migrations", "--database-url", unopenable], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "Cannot migrate" in down.stderr and "Traceback" not in down.stderr
