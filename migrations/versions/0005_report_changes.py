"""Which old days' report data changed: ``handoff_report_changes`` and the
triggers that fill it, so the reports can keep the figures of settled days
(handoff/report_cache.py) and still see every late change, from any process.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-13

A row per UTC day (``YYYY-MM-DD``) whose data changed after the day was more
than a day old, with a ``generation`` counted up on each change. The
triggers fire on what the summary reads: episodes (by ``queued_at``), their
assignments, CSAT and NPS rows (by their episode's ``queued_at``), and
conversations (insert, delete, and updates of ``first_customer_at``,
``first_handoff_at``, ``customer_id``, ``channel`` and ``context``: by
``first_customer_at`` and the ``queued_at`` of their episodes). A change of
recent data (the common case: the chats of today) writes nothing; the reports
never keep days that recent (docs/reports.md, "Speed"). Labels are not
tracked: the reports read them fresh.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLE = "handoff_report_changes"
CHILDREN = ("handoff_assignments", "handoff_csat", "handoff_nps")
CONVERSATION_COLUMNS = "first_customer_at, first_handoff_at, customer_id, channel, context"

# -- SQLite: times are the text SQLAlchemy writes ("YYYY-MM-DD HH:MM:SS.ffffff", UTC)
SQLITE_OLD = "strftime('%Y-%m-%d %H:%M:%S', 'now', '-1 days')"
SQLITE_UPSERT = " ON CONFLICT(day) DO UPDATE SET generation = generation + 1;"


def _sqlite_mark_time(expr: str) -> str:
    return (f"INSERT INTO {TABLE} (day, generation) SELECT substr({expr}, 1, 10), 1 "
            f"WHERE {expr} IS NOT NULL AND {expr} < {SQLITE_OLD}{SQLITE_UPSERT}")


def _sqlite_mark_episodes(where: str) -> str:
    return (f"INSERT INTO {TABLE} (day, generation) SELECT substr(queued_at, 1, 10), 1 FROM handoff_episodes "
            f"WHERE {where} AND queued_at < {SQLITE_OLD}{SQLITE_UPSERT}")


def _sqlite_triggers() -> list:
    out = []
    for op_name, rows in (("insert", ("new",)), ("update", ("old", "new")), ("delete", ("old",))):
        body = " ".join(_sqlite_mark_time(f"{r}.queued_at") for r in rows)
        out.append(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_episodes_{op_name} AFTER {op_name.upper()} "
                   f"ON handoff_episodes BEGIN {body} END")
        for child in CHILDREN:
            body = " ".join(_sqlite_mark_episodes(f"id = {r}.episode_id") for r in rows)
            out.append(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_{child[8:]}_{op_name} AFTER {op_name.upper()} "
                       f"ON {child} BEGIN {body} END")
        event = f"UPDATE OF {CONVERSATION_COLUMNS}" if op_name == "update" else op_name.upper()
        body = " ".join(_sqlite_mark_time(f"{r}.first_customer_at") + " "
                        + _sqlite_mark_episodes(f"conversation_id = {r}.id") for r in rows)
        out.append(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_conversations_{op_name} AFTER {event} "
                   f"ON handoff_conversations BEGIN {body} END")
    return out


# -- PostgreSQL: one marking function, one trigger function per kind of table
PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION handoff_report_mark(at timestamptz) RETURNS void AS $$
BEGIN
  IF at IS NOT NULL AND at < now() - interval '1 day' THEN
    INSERT INTO {TABLE} (day, generation) VALUES (to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 1)
    ON CONFLICT (day) DO UPDATE SET generation = {TABLE}.generation + 1;
  END IF;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION handoff_report_episode_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN PERFORM handoff_report_mark(OLD.queued_at); END IF;
  IF TG_OP <> 'DELETE' THEN PERFORM handoff_report_mark(NEW.queued_at); END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION handoff_report_child_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM handoff_report_mark(e.queued_at) FROM handoff_episodes e WHERE e.id = OLD.episode_id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM handoff_report_mark(e.queued_at) FROM handoff_episodes e WHERE e.id = NEW.episode_id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION handoff_report_conversation_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM handoff_report_mark(OLD.first_customer_at);
    PERFORM handoff_report_mark(e.queued_at) FROM handoff_episodes e WHERE e.conversation_id = OLD.id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM handoff_report_mark(NEW.first_customer_at);
    PERFORM handoff_report_mark(e.queued_at) FROM handoff_episodes e WHERE e.conversation_id = NEW.id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


def _pg_triggers() -> list:
    out = [f"DROP TRIGGER IF EXISTS {TABLE}_episodes ON handoff_episodes",
           f"CREATE TRIGGER {TABLE}_episodes AFTER INSERT OR UPDATE OR DELETE ON handoff_episodes "
           f"FOR EACH ROW EXECUTE FUNCTION handoff_report_episode_changed()",
           f"DROP TRIGGER IF EXISTS {TABLE}_conversations ON handoff_conversations",
           f"CREATE TRIGGER {TABLE}_conversations AFTER INSERT OR DELETE OR UPDATE OF {CONVERSATION_COLUMNS} "
           f"ON handoff_conversations FOR EACH ROW EXECUTE FUNCTION handoff_report_conversation_changed()"]
    for child in CHILDREN:
        out += [f"DROP TRIGGER IF EXISTS {TABLE}_{child[8:]} ON {child}",
                f"CREATE TRIGGER {TABLE}_{child[8:]} AFTER INSERT OR UPDATE OR DELETE ON {child} "
                f"FOR EACH ROW EXECUTE FUNCTION handoff_report_child_changed()"]
    return out


def upgrade() -> None:
    """Idempotent, as the revisions before it."""
    bind = op.get_bind()
    if TABLE not in sa.inspect(bind).get_table_names():
        op.create_table(
            TABLE,
            sa.Column("day", sa.String(10), primary_key=True),
            sa.Column("generation", sa.Integer, nullable=False),
        )
    if bind.dialect.name == "sqlite":
        statements = _sqlite_triggers()
    elif bind.dialect.name == "postgresql":
        statements = [PG_FUNCTIONS] + _pg_triggers()
    else:  # another database: no triggers, so the reports keep no days (handoff/report_cache.py checks)
        statements = []
    for statement in statements:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in [r[0] for r in bind.exec_driver_sql(
                f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '{TABLE}_%'")]:
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    elif bind.dialect.name == "postgresql":
        for child in ("handoff_episodes", "handoff_conversations") + CHILDREN:
            suffix = child[8:]
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TABLE}_{suffix} ON {child}")
        for fn in ("handoff_report_conversation_changed()", "handoff_report_child_changed()",
                   "handoff_report_episode_changed()", "handoff_report_mark(timestamptz)"):
            bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {fn}")
    op.drop_table(TABLE)
