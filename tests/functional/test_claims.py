"""Claims under contention: the generation check, the retry, the database's own guard.

Two schedulers on one database stand for two API processes: each has its own in-memory
index, so one of them always decides on stale data after the other wrote.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body, make_settings

from pciplane.api.app import create_app
from pciplane.core.device import Action, Inventory
from pciplane.core.errors import ConflictError
from pciplane.service.context import Services, build_services
from pciplane.service.settings import Settings
from pciplane.store.hosts import load_host, write_devices
from pciplane.store.servers import ServerRecord, ServerState
from pciplane.store.tables import claims, devices

ADMIN_H = auth(ADMIN)


def _seed(client: TestClient, *, hosts: int = 1, gpus: int = 2) -> None:
    for i in range(1, hosts + 1):
        client.put(
            f"/v1/hosts/cmp{i}", json=host_body(f"cmp{i}", gpus=gpus), headers=auth(f"tok-cmp{i}")
        )
    client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    client.post(
        "/v1/flavors",
        json={
            "name": "m1.gpu",
            "vcpus": 1,
            "ram": 512,
            "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
        },
        headers=ADMIN_H,
    )


def _second_process(settings: Settings) -> Services:
    return build_services(settings)


def _holders(context: Services) -> dict[str, str]:
    """``"host#address" -> owner`` for every held device."""
    with context.db.read() as conn:
        rows = conn.execute(sa.select(devices.c.host_id, devices.c.address, devices.c.owner))
        return {f"{h}#{a}": o for h, a, o in rows if o is not None}


def test_stale_generation_is_a_conflict_and_writes_nothing(
    app_client: TestClient, settings: Settings
) -> None:
    _seed(app_client)
    plain = {"name": "m0", "vcpus": 1, "ram": 64}
    app_client.post("/v1/flavors", json=plain, headers=ADMIN_H)
    srv_a, srv_b = (
        app_client.post("/v1/servers", json={"name": n, "flavor": "m0"}, headers=ADMIN_H).json()[
            "id"
        ]
        for n in ("a", "b")
    )
    context: Services = app_client.app.state.services  # type: ignore[attr-defined]
    with context.db.read() as conn:
        record = load_host(conn, "cmp1")
    before = Inventory.of(record.host.devices)
    first = next(iter(before)).address
    after = before.apply(Action.CLAIM, [first], owner=srv_a)
    with context.db.write() as conn:
        write_devices(conn, host_id=record.id, seen=record.generation, before=before, after=after)
    stolen = before.apply(Action.CLAIM, [first], owner=srv_b)
    with pytest.raises(ConflictError), context.db.write() as conn:
        write_devices(conn, host_id=record.id, seen=record.generation, before=before, after=stolen)
    assert list(_holders(context).items()) == [(f"{record.id}#{first}", srv_a)]


def test_claims_table_refuses_a_second_holder(app_client: TestClient) -> None:
    """The database's own guard, below the generation check: one claim row per device."""
    _seed(app_client)
    client = app_client
    server = client.post(
        "/v1/servers", json={"name": "a", "flavor": "m1.gpu"}, headers=ADMIN_H
    ).json()
    context: Services = client.app.state.services  # type: ignore[attr-defined]
    with context.db.read() as conn:
        device_id = conn.execute(sa.select(claims.c.device_id)).scalar_one()
    with pytest.raises(sa.exc.IntegrityError), context.db.write() as conn:
        conn.execute(sa.insert(claims).values(device_id=device_id, server_id=server["id"]))


def test_two_processes_racing_on_one_host_never_share_a_device(
    app_client: TestClient, settings: Settings
) -> None:
    """Process B reads, then A claims, then B writes: B loses, retries on fresh data."""
    _seed(app_client, gpus=2)
    a: Services = app_client.app.state.services  # type: ignore[attr-defined]
    b = _second_process(settings)
    made: list[ServerRecord] = []
    b_refresh = b.scheduler._refresh

    def refresh_then_a_claims(conn: object) -> int:
        reloaded = b_refresh(conn)  # type: ignore[arg-type]
        if not made:  # between B's read and B's write, A takes a GPU
            made.append(a.servers.create(name="from-a", flavor="m1.gpu", project="p"))
        return reloaded

    b.scheduler._refresh = refresh_then_a_claims  # type: ignore[method-assign]
    second = b.servers.create(name="from-b", flavor="m1.gpu", project="p")
    third = b.servers.create(name="from-b2", flavor="m1.gpu", project="p")
    first = made[0]
    assert [first.state, second.state, third.state] == [
        ServerState.BUILD,
        ServerState.BUILD,
        ServerState.ERROR,
    ]
    assert set(first.devices).isdisjoint(second.devices)
    assert b.metrics.registry.get_sample_value("pciplane_claim_conflicts_total") == 1
    assert b.metrics.registry.get_sample_value("pciplane_claim_retries_total") == 1
    assert sorted(_holders(a).values()) == sorted([first.id, second.id])
    b.db.dispose()


@pytest.mark.parametrize("processes", [pytest.param(2, id="two-processes")])
def test_concurrent_creates_take_each_device_once(
    db_url: str, tmp_path: object, processes: int
) -> None:
    """Threads in two "processes" create more servers than there are GPUs."""
    settings = make_settings(db_url)
    app = create_app(settings)
    with TestClient(app) as client:
        _seed(client, hosts=2, gpus=3)
    contexts = [app.state.services] + [build_services(settings) for _ in range(processes - 1)]
    results: list[ServerState] = []
    lock = threading.Lock()

    def create(k: int) -> None:
        server = contexts[k % processes].servers.create(name=f"vm{k}", flavor="m1.gpu", project="p")
        with lock:
            results.append(server.state)

    threads = [threading.Thread(target=create, args=(k,)) for k in range(10)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert time.perf_counter() - started < 60
    assert sorted(results).count(ServerState.BUILD) == 6
    assert sorted(results).count(ServerState.ERROR) == 4
    holders = _holders(contexts[0])
    assert len(holders) == 6 and len(set(holders.values())) == 6
    for context in contexts:
        context.db.dispose()
