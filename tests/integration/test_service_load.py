"""Many concurrent creates against a fleet with room for exactly K servers (issue 4).

Two API processes share one database; 200 creates are fired at once, half at each. The
fleet has room for exactly K of them: K end ACTIVE once the agents (played here over
HTTP, polling while the creates run) report their starts, the rest end ERROR with "No
valid host", and no device is in two servers, by the API's account and by the tables'.

On PostgreSQL the two processes race through the per-host generation check. On SQLite
the two processes share one file too: writers queue on ``BEGIN IMMEDIATE`` and the same
generation check decides races between processes (store/db.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from load_helpers import (
    ADMIN,
    FLAVOR,
    GPU_ALIAS,
    PROJECT_TOKEN,
    ApiProcess,
    agent_token,
    auth,
    device_owners,
    host_body,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

CREATES = 200
#: GPUs per host: room for exactly K one-GPU servers, plus two hosts with none.
GPUS = (1, 2, 3, 4) * 4 + (0, 0)
K = sum(GPUS)
HOSTS = [f"load{i:02d}" for i in range(len(GPUS))]
POLL_S = 0.25
DEADLINE_S = 150.0
CONFLICTS = re.compile(r"^pciplane_claim_conflicts_total(?:\{[^}]*\})? (\S+)$", re.M)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'load.db'}"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def apis(db_url: str, tmp_path: Path) -> Iterator[list[ApiProcess]]:
    """Two API processes on one database; the second starts once the first migrated it."""
    env = service_env(db_url, HOSTS)
    started: list[ApiProcess] = []
    try:
        for i in range(2):
            started.append(start_api(db_url, env, tmp_path / f"api{i}.log"))
        yield started
    finally:
        for api in started:
            api.stop()


def _setup_fleet(apis: list[ApiProcess]) -> None:
    first = apis[0].url
    assert httpx.post(f"{first}/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN)).status_code == 201
    assert httpx.post(f"{first}/v1/flavors", json=FLAVOR, headers=auth(ADMIN)).status_code == 201
    for i, (name, gpus) in enumerate(zip(HOSTS, GPUS, strict=True)):
        url = apis[i % 2].url
        answer = httpx.put(
            f"{url}/v1/hosts/{name}", json=host_body(name, gpus), headers=auth(agent_token(name))
        )
        assert answer.status_code == 200, answer.text


async def _agent(client: httpx.AsyncClient, host: str, creates_done: asyncio.Event) -> int:
    """Poll the host's work and report every start a success, until the creates are over."""
    started = 0
    headers = auth(agent_token(host))
    while True:
        finished = creates_done.is_set()
        answer = await client.get(f"/v1/hosts/{host}/work", headers=headers)
        assert answer.status_code == 200, answer.text
        work = answer.json()["work"]
        for item in work:
            assert item["kind"] == "start"
            done = await client.post(f"/v1/work/{item['id']}", json={"ok": True}, headers=headers)
            assert done.status_code == 200, done.text
            started += 1
        if finished and not work:
            return started
        await asyncio.sleep(POLL_S)


async def _storm(apis: list[ApiProcess]) -> tuple[list[httpx.Response], int]:
    """200 creates at once, alternating between the APIs, with the agents polling."""
    limits = httpx.Limits(max_connections=CREATES, max_keepalive_connections=CREATES)
    clients = [httpx.AsyncClient(base_url=a.url, timeout=60, limits=limits) for a in apis]
    creates_done = asyncio.Event()
    user = auth(PROJECT_TOKEN)
    try:
        agents = [
            asyncio.create_task(_agent(clients[i % 2], host, creates_done))
            for i, host in enumerate(HOSTS)
        ]
        creates = [
            clients[i % 2].post(
                "/v1/servers", json={"name": f"s{i:03d}", "flavor": "g1"}, headers=user
            )
            for i in range(CREATES)
        ]
        responses = await asyncio.gather(*creates)
        creates_done.set()
        started = sum(await asyncio.gather(*agents))
    finally:
        for client in clients:
            await client.aclose()
    return list(responses), started


def _check_through_api(apis: list[ApiProcess]) -> set[str]:
    """Both APIs tell the same story: K ACTIVE, one device each, none shared; the ids."""
    active: set[str] = set()
    for api in apis:
        servers = httpx.get(f"{api.url}/v1/servers", headers=auth(ADMIN), timeout=30).json()
        states = Counter(s["state"] for s in servers["servers"])
        assert states == {"ACTIVE": K, "ERROR": CREATES - K}
        held = [(s["host"], d) for s in servers["servers"] for d in s["devices"]]
        assert len(held) == len(set(held)) == K
        for server in servers["servers"]:
            if server["state"] == "ACTIVE":
                assert len(server["devices"]) == 1 and server["host"] in HOSTS
            else:
                assert (server["devices"], server["host"]) == ([], None)
                reason = server["reason"]
                assert "No valid host" in reason and any(h in reason for h in HOSTS), reason
        active = {s["id"] for s in servers["servers"] if s["state"] == "ACTIVE"}
        hosts = httpx.get(f"{api.url}/v1/hosts", headers=auth(ADMIN), timeout=30).json()
        pools = [p for h in hosts["hosts"] for p in h["pools"]]
        assert (sum(p["used"] for p in pools), sum(p["free"] for p in pools)) == (K, 0)
    return active


def _conflicts(apis: list[ApiProcess]) -> float:
    total = 0.0
    for api in apis:
        text = httpx.get(f"{api.url}/metrics", timeout=10).text
        for match in CONFLICTS.finditer(text):
            total += float(match.group(1))
    return total


def test_concurrent_creates_fill_exactly_the_room(
    apis: list[ApiProcess], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _setup_fleet(apis)
    responses, started = asyncio.run(asyncio.wait_for(_storm(apis), DEADLINE_S))

    assert [r.status_code for r in responses] == [201] * CREATES, responses[0].text
    answered = Counter(r.json()["state"] for r in responses)
    assert answered == {"BUILD": K, "ERROR": CREATES - K}
    assert started == K
    active = _check_through_api(apis)

    owners = device_owners(db_url)
    owned = [o for o in owners if o[2] is not None]
    assert len(owned) == K
    assert all(owner == claim for _, _, owner, claim in owners), "devices.owner != claims"
    assert {o[2] for o in owned} == active, "owners are exactly the ACTIVE servers"
    with capsys.disabled():
        backend = db_url.split(":")[0]
        print(f"\n[{backend}] claim conflicts across processes: {_conflicts(apis):.0f}")
