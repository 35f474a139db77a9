"""An API process SIGKILLed in the middle of creates leaves no server half-made.

A create's server row, its claim and its start are one transaction, so after the kill
every server is either placed (BUILD on a host, devices claimed, a start queued) or
refused (ERROR, nothing held); none is left in BUILD without a host, and no device is
held by a server that does not hold it in its row. A new process then serves as usual.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from load_helpers import (
    ADMIN,
    FLAVOR,
    GPU_ALIAS,
    PROJECT_TOKEN,
    agent_token,
    auth,
    host_body,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

HOSTS = [f"cmp{i}" for i in range(1, 5)]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        with pg_database() as url:
            yield url


def _creates(url: str, count: int, answered: list[int], started: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=auth(PROJECT_TOKEN), timeout=10) as client:
        for k in range(count):
            started.set()
            with contextlib.suppress(httpx.HTTPError):
                client.post("/v1/servers", json={"name": f"vm{k}", "flavor": "g1"})
                answered.append(k)


def test_a_killed_api_leaves_every_server_whole(db_url: str, tmp_path: Path) -> None:
    env = service_env(db_url, HOSTS)
    api = start_api(db_url, env, tmp_path / "api.log")
    admin = httpx.Client(base_url=api.url, headers=auth(ADMIN), timeout=10)
    admin.post("/v1/aliases", json=GPU_ALIAS).raise_for_status()
    admin.post("/v1/flavors", json=FLAVOR).raise_for_status()
    for host in HOSTS:
        httpx.put(f"{api.url}/v1/hosts/{host}", json=host_body(host, 4),
                  headers=auth(agent_token(host))).raise_for_status()  # fmt: skip
    admin.close()
    answered: list[int] = []
    started = threading.Event()
    threads = [
        threading.Thread(target=_creates, args=(api.url, 12, answered, started)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    started.wait(10)
    deadline = time.monotonic() + 30
    while len(answered) < 3:  # some creates are through, many more are in flight
        assert time.monotonic() < deadline, api.log.read_text()
        time.sleep(0.005)
    api.proc.kill()
    api.proc.wait(10)
    for t in threads:
        t.join(30)

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.id, s.state, s.host_id, s.guest_plan,"
            " (SELECT count(*) FROM work_items w WHERE w.server_id = s.id"
            "   AND w.kind = 'start' AND w.state = 'pending') AS starts,"
            " (SELECT count(*) FROM devices d WHERE d.owner = s.id) AS held"
            " FROM servers s"
        )).all()  # fmt: skip
        owners = conn.execute(sa.text("SELECT owner FROM devices WHERE owner IS NOT NULL")).all()
    engine.dispose()
    assert rows, "the kill came before any create was written"
    for sid, state, host_id, plan, starts, held in rows:
        if state == "BUILD":
            assert (host_id is not None, plan is not None, starts, held) == (True, True, 1, 1), sid
        else:
            assert (state, host_id, held) == ("ERROR", None, 0), sid
    assert {o for (o,) in owners} <= {sid for sid, *_ in rows}

    again = start_api(db_url, env, tmp_path / "api2.log")
    try:
        with httpx.Client(base_url=again.url, headers=auth(PROJECT_TOKEN), timeout=10) as c:
            after = c.post("/v1/servers", json={"name": "after", "flavor": "g1"}).json()
        placed = sum(1 for r in rows if r[1] == "BUILD")
        assert after["state"] == ("BUILD" if placed < 16 else "ERROR"), after
    finally:
        again.stop()
