"""200 concurrent creates of pinned and floating servers on PostgreSQL (issue 9).

Two API processes share one database; every host has two cells of 4 CPUs, ratio 1, so
whatever the order, each host takes exactly 4 servers of 2 vCPUs (a pinned one needs 2
free CPUs of one cell; with 2 CPUs' room left some cell always has them). K = 4 x hosts
end BUILD, the rest ERROR with "No valid host"; no CPU is pinned twice, pinned and
floating vCPUs never exceed a host's CPUs, and each server's plan pins exactly the CPUs
the database holds for it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from load_helpers import (
    ADMIN,
    PROJECT_TOKEN,
    ApiProcess,
    agent_token,
    auth,
    pg_database,
    service_env,
    start_api,
)

pytestmark = pytest.mark.integration

CREATES = 200
HOSTS = [f"cpu{i:02d}" for i in range(6)]
K = 4 * len(HOSTS)
CELLS = [
    {"id": 0, "socket": 0, "cpus": [0, 1, 2, 3], "memory_mib": 8192},
    {"id": 1, "socket": 1, "cpus": [4, 5, 6, 7], "memory_mib": 8192},
]
FLAVORS = [
    {"name": "pin2", "vcpus": 2, "ram": 1024, "extra_specs": {"hw:cpu_policy": "dedicated"}},
    {"name": "float2", "vcpus": 2, "ram": 1024},
]


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[tuple[list[ApiProcess], str]]:
    with pg_database() as url:
        env = service_env(url, HOSTS)
        started: list[ApiProcess] = []
        try:
            for i in range(2):
                started.append(start_api(url, env, tmp_path / f"api{i}.log"))
            yield started, url
        finally:
            for api in started:
                api.stop()


def _setup(apis: list[ApiProcess]) -> None:
    first = apis[0].url
    for flavor in FLAVORS:
        answer = httpx.post(f"{first}/v1/flavors", json=flavor, headers=auth(ADMIN))
        assert answer.status_code == 201, answer.text
    body = {
        "numa_nodes": CELLS,
        "allocation": {"cpu_allocation_ratio": 1, "reserved_host_memory_mb": 0},
        "devices": [],
    }
    for i, name in enumerate(HOSTS):
        answer = httpx.put(
            f"{apis[i % 2].url}/v1/hosts/{name}", json=body, headers=auth(agent_token(name))
        )
        assert answer.status_code == 200, answer.text


async def _storm(apis: list[ApiProcess]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CREATES, max_keepalive_connections=CREATES)
    clients = [httpx.AsyncClient(base_url=a.url, timeout=120, limits=limits) for a in apis]
    user = auth(PROJECT_TOKEN)
    try:
        creates = [
            clients[i % 2].post(
                "/v1/servers",
                json={"name": f"s{i:03d}", "flavor": FLAVORS[(i // 2) % 2]["name"]},
                headers=user,
            )
            for i in range(CREATES)
        ]
        return list(await asyncio.gather(*creates))
    finally:
        for client in clients:
            await client.aclose()


def test_concurrent_creates_never_overcommit_cpus(
    apis: tuple[list[ApiProcess], str],
) -> None:
    processes, url = apis
    _setup(processes)
    responses = asyncio.run(asyncio.wait_for(_storm(processes), 180))
    assert [r.status_code for r in responses] == [201] * CREATES, responses[0].text
    states = Counter(r.json()["state"] for r in responses)
    assert states == {"BUILD": K, "ERROR": CREATES - K}
    for r in responses:
        if r.json()["state"] == "ERROR":
            assert "No valid host" in r.json()["reason"], r.json()["reason"]

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pins = list(conn.execute(sa.text(
                "SELECT h.name, p.cpu, p.server_id FROM cpu_pins p JOIN hosts h ON h.id = p.host_id"
            )))  # fmt: skip
            floating = list(conn.execute(sa.text(
                "SELECT h.name, c.vcpus, c.memory_mib, c.server_id FROM cell_claims c "
                "JOIN hosts h ON h.id = c.host_id"
            )))  # fmt: skip
            plans = list(conn.execute(sa.text(
                "SELECT id, guest_plan FROM servers WHERE state = 'BUILD'"
            )))  # fmt: skip
    finally:
        engine.dispose()
    used: Counter[str] = Counter()
    for host, _cpu, _server in pins:
        used[host] += 1
    for host, vcpus, _mib, _server in floating:
        used[host] += vcpus
    assert used == dict.fromkeys(HOSTS, 8), used  # each host exactly full, never over
    held: dict[str, set[int]] = defaultdict(set)
    for _host, cpu, server in pins:
        held[server].add(cpu)
    for server_id, text in plans:
        plan = json.loads(text)
        planned = {p for cell in plan.get("cells", []) for p in cell["pins"] if p is not None}
        assert planned == held.get(server_id, set()), server_id
