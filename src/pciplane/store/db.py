"""Engines, transactions and migrations.

SQLite is the embedded default; its writers are serialised with ``BEGIN IMMEDIATE`` so a
read-then-write transaction never fails half-way with "database is locked" (SQLite
docs, "Transactions"), and WAL lets readers run beside the one writer. PostgreSQL is
what several API processes share; there the generation check in
:mod:`pciplane.store.hosts` decides lost races, and migrations run under an advisory
lock so that processes starting together on a fresh database migrate one at a time.

A database URL may also be a plain path, which names a SQLite file. Only SQLite and
PostgreSQL are supported: the claim writes rely on ``UPDATE ... RETURNING``.
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
BACKENDS = ("sqlite", "postgresql")
#: The key of the PostgreSQL advisory lock migrations hold: any fixed 64-bit number
#: that nothing else in the database uses ("pciplane" in ASCII).
MIGRATION_LOCK = 0x7063_6970_6C61_6E65


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


def parse_url(url: str) -> sa.URL:
    """``url`` as SQLAlchemy reads it; a plain path (no ``://``) is a SQLite file."""
    if "://" not in url and url.strip():
        return sa.URL.create("sqlite", database=url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"database URL {url!r} is not valid: expected sqlite:///FILE, a file path, "
            "or postgresql+psycopg://USER@HOST/DB"
        ) from None
    if parsed.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"database URL {url!r}: {parsed.get_backend_name()} is not supported "
            f"(pciplane runs on {' or '.join(BACKENDS)})"
        )
    return parsed


def _sqlite_file(parsed: sa.URL) -> Path | None:
    if parsed.database and parsed.database != ":memory:" and "mode=memory" not in str(parsed):
        return Path(parsed.database).expanduser()
    return None


def create_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``.

    With ``create`` a SQLite file's directory is made when missing (the file itself
    appears on first use); without it, a missing SQLite file is an error, so that
    looking at a database never creates one.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except ImportError as exc:
            raise ConfigError(
                f"database URL {url!r}: its driver is not installed ({exc})"
            ) from None
    path = _sqlite_file(parsed)
    if path is not None and not create and not path.is_file():
        raise ConfigError(f"no database at {path} (pciplane db upgrade creates it)")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the directory of {path}: {exc.strerror}") from None
        parsed = parsed.set(database=str(path))
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


def _show(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (on start and by ``pciplane db upgrade``).

    One transaction: on PostgreSQL it first takes a transaction-scoped advisory lock
    (PostgreSQL docs, "Advisory Locks"), so of several processes starting at once on a
    fresh database one migrates and the others wait, then find the schema current
    (READ COMMITTED: each statement after the lock sees what the first committed). On
    SQLite the transaction's ``BEGIN IMMEDIATE`` serialises them the same way.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), revision)
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"cannot migrate the database {_show(engine)}: {exc.orig}") from None


def head_revision() -> str:
    """The newest migration this version of pciplane ships."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"cannot read the database {_show(engine)}: {exc.orig}") from None


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
