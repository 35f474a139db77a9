"""``pciplane db upgrade|current``: the database's Alembic migrations.

``--db`` takes a database URL or a plain path (a SQLite file). ``upgrade`` creates a
SQLite file and its directory when missing; ``current`` only looks, so a database that
is not there is an error and nothing is created.
"""

from __future__ import annotations

import argparse
from typing import Any

from pciplane.cli.serve import add_settings_args, settings_from
from pciplane.store.db import create_engine, current_revision, upgrade


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("db", help="database migrations")
    cmds = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = cmds.add_parser("upgrade", help="apply the migrations up to the newest")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=_upgrade)
    cur = cmds.add_parser("current", help="print the applied revision")
    cur.set_defaults(func=_current)
    for p in (up, cur):
        add_settings_args(p)


def _upgrade(args: argparse.Namespace) -> int:
    engine = create_engine(settings_from(args).db_url)
    try:
        upgrade(engine, args.revision)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _current(args: argparse.Namespace) -> int:
    engine = create_engine(settings_from(args).db_url, create=False)
    try:
        print(current_revision(engine) or "empty (no migrations applied)")
    finally:
        engine.dispose()
    return 0
