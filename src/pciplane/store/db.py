"""Engines, transactions and migrations.

SQLite is the embedded default; its writers are serialised with ``BEGIN IMMEDIATE`` so a
read-then-write transaction never fails half-way with "database is locked" (SQLite
docs, "Transactions"), and WAL lets readers run beside the one writer. PostgreSQL is
what several API processes share; there the generation check in
:mod:`pciplane.store.inventory` decides lost races.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from pciplane.core.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Writers take the lock up front; readers (``pciplane_read``) begin deferred."""
    read = conn.get_execution_options().get("pciplane_read", False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def create_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created when missing."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} is not valid: {exc}") from None
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    # Let SQLAlchemy, not the driver, emit BEGIN (the pysqlite recipe in SQLAlchemy docs).
    sa.event.listen(
        engine, "connect", lambda dbapi_conn, _r: setattr(dbapi_conn, "isolation_level", None)
    )
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (on start and by ``pciplane db upgrade``)."""
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"cannot migrate the database {engine.url!r}: {exc.orig}") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class Database:
    """One engine and its two kinds of transaction: read, and write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        db = cls(create_engine(url))
        if migrate:
            upgrade(db.engine)
        return db

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(pciplane_read=True)
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
