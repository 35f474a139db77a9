"""A real service on a real database: SQLite in tmp_path, and PostgreSQL when reachable.

The PostgreSQL variant creates its own database (``pciplane_test_<random>``) on
127.0.0.1:5432 and drops it afterwards; it is skipped only if the server is unreachable.
Tests talk to the service through HTTP (Starlette's TestClient), as clients and agents do.
"""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move from httpx to httpx2.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

from svc_helpers import PG_ADMIN, free_port, make_settings

from pciplane.api.app import create_app
from pciplane.service.settings import Settings


def _pg_database() -> Iterator[str]:
    import sqlalchemy as sa

    name = f"pciplane_test_{secrets.token_hex(4)}"
    try:
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc.orig}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pciplane.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client
    app.state.services.db.dispose()


@pytest.fixture
def live_api(db_url: str) -> Iterator[str]:
    app = create_app(make_settings(db_url))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()
