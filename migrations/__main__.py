"""``python -m migrations [--database-url URL]``: bring the database to the
newest revision (``make migrate``; ``make setup`` and ``make run`` run it)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from sqlalchemy.exc import OperationalError

import migrations
from core.store import default_database_url
from core.store.sql import mask_url


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: $DATABASE_URL, else SQLite in var/store.db")
    args = parser.parse_args(argv)
    url = args.database_url or default_database_url()
    before = None
    try:
        before = migrations.current(url)
        migrations.upgrade(url)
    except OperationalError as exc:
        print(f"Cannot migrate {mask_url(url)}: {type(exc.orig).__name__}: {' '.join(str(exc.orig).split())}",
              file=sys.stderr)
        return 1
    after = migrations.current(url)
    change = "up to date" if before == after else f"{before or 'no revision'} -> {after}"
    print(f"Schema of {mask_url(url)} at revision {after} ({change})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
