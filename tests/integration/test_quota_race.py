"""Two hundred concurrent creates of one project, split over two API processes on one
PostgreSQL database, against a quota of 37: exactly 37 servers are created and hold a
device each; the other 163 are refused with a 403 naming the quota, and none of them
claimed anything. Once for the ``instances`` quota, once for a per-alias one.
"""

from __future__ import annotations

import asyncio
import json
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

CREATES, QUOTA = 200, 37
HOSTS = [f"q{i}" for i in range(5)]  # 5 x 12 GPUs: room for 60, so the quota decides


@pytest.fixture(
    params=[
        pytest.param({"PCIPLANE_QUOTA_INSTANCES": str(QUOTA), "PCIPLANE_QUOTA_CORES": "-1"},
                     id="instances"),
        pytest.param(
            {"PCIPLANE_QUOTA_INSTANCES": "-1", "PCIPLANE_QUOTA_CORES": "-1",
             "PCIPLANE_QUOTA_PCI_DEVICES": json.dumps({"gpu": QUOTA})},
            id="per-alias",
        ),
    ]
)  # fmt: skip
def apis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[ApiProcess]]]:
    with pg_database() as url:
        env = {**service_env(url, HOSTS), **request.param, "PCIPLANE_WEIGHER": "spread"}
        started: list[ApiProcess] = []
        try:
            for i in range(2):
                started.append(start_api(url, env, tmp_path / f"api{i}.log"))
            yield url, started
        finally:
            for api in started:
                api.stop()


async def _storm(apis: list[ApiProcess]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CREATES, max_keepalive_connections=CREATES)
    clients = [httpx.AsyncClient(base_url=a.url, timeout=120, limits=limits) for a in apis]
    try:
        return list(
            await asyncio.gather(
                *(
                    clients[i % 2].post(
                        "/v1/servers",
                        json={"name": f"s{i:03d}", "flavor": "g1"},
                        headers=auth(PROJECT_TOKEN),
                    )
                    for i in range(CREATES)
                )
            )
        )
    finally:
        for client in clients:
            await client.aclose()


def test_concurrent_creates_never_overshoot_the_quota(
    apis: tuple[str, list[ApiProcess]],
) -> None:
    url, processes = apis
    first = processes[0].url
    assert httpx.post(f"{first}/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN)).status_code == 201
    assert httpx.post(f"{first}/v1/flavors", json=FLAVOR, headers=auth(ADMIN)).status_code == 201
    for name in HOSTS:
        answer = httpx.put(
            f"{first}/v1/hosts/{name}", json=host_body(name, 12), headers=auth(agent_token(name))
        )
        assert answer.status_code == 200, answer.text

    responses = asyncio.run(_storm(processes))

    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 403]
    assert (len(created), len(refused)) == (QUOTA, CREATES - QUOTA), {
        r.status_code for r in responses
    }
    assert {r.json()["state"] for r in created} == {"BUILD"}
    for answer in refused:
        (error,) = answer.json()["errors"]
        assert error["code"] == "pciplane.quota.exceeded"
        assert f"{QUOTA} of {QUOTA} used, 1 requested" in error["detail"]
    held = [(owner, claim) for _, _, owner, claim in device_owners(url) if owner is not None]
    assert len(held) == QUOTA and all(owner == claim for owner, claim in held)
    assert {owner for owner, _ in held} == {r.json()["id"] for r in created}
    listed = httpx.get(f"{first}/v1/servers", headers=auth(PROJECT_TOKEN)).json()["servers"]
    assert len(listed) == QUOTA
