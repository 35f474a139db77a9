"""The project's quota lock on PostgreSQL: a second transaction of the same project waits
for the first to end (it times out here, holding nothing), while another project's goes
on; that is what makes the count-then-claim of concurrent creates exact across API
processes (tests/integration/test_quota_race.py runs the storm itself)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pciplane.store.db import create_engine, upgrade
from pciplane.store.quotas import lock


def test_the_lock_serialises_one_project_and_not_others(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    engine = create_engine(db_url)
    upgrade(engine)
    try:
        with engine.begin() as conn:  # the projects' rows exist (made by earlier creates)
            lock(conn, "alpha")
            lock(conn, "beta")
        with engine.connect() as first, engine.connect() as second:
            with first.begin():
                lock(first, "alpha")
                with second.begin():
                    second.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                    lock(second, "beta")  # another project: no wait
                with (
                    pytest.raises(sa.exc.OperationalError, match="lock timeout"),
                    second.begin(),
                ):
                    second.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                    lock(second, "alpha")
            with second.begin():  # the first ended: the lock is free again
                second.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                lock(second, "alpha")
    finally:
        engine.dispose()
