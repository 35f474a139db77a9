"""Several ``pciplane serve`` processes started at once on a fresh database all come up.

Each process migrates the database on start (store/db.py ``upgrade``). Without a lock,
two of them create the same tables at the same moment and one dies with a duplicate
error; on PostgreSQL the migrations take an advisory lock, and on SQLite ``BEGIN
IMMEDIATE`` serialises them, so the first migrates and the others find it done.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from load_helpers import ApiProcess, free_port, pg_database, serve_command, service_env

pytestmark = pytest.mark.integration

PROCESSES = 3


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with pg_database() as url:
            yield url


def _healthy(api: ApiProcess) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{api.url}/healthz", timeout=2).status_code == 200
    return False


def test_processes_started_together_all_answer(fresh_db: str, tmp_path: Path) -> None:
    env = service_env(fresh_db, [])
    apis: list[ApiProcess] = []
    try:
        for i in range(PROCESSES):  # all started before any is waited for
            port, log = free_port(), tmp_path / f"api{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    serve_command(fresh_db, port), env=env, stdout=out, stderr=subprocess.STDOUT
                )
            apis.append(ApiProcess(proc=proc, url=f"http://127.0.0.1:{port}", log=log))
        waiting = list(apis)
        deadline = time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            for api in list(waiting):
                assert api.proc.poll() is None, f"{api.url} exited: {api.log.read_text()}"
                if _healthy(api):
                    waiting.remove(api)
            time.sleep(0.1)
        assert not waiting, [api.log.read_text() for api in waiting]
    finally:
        for api in apis:
            api.stop()
