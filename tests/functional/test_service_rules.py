"""Rules the service keeps on its own: dead agents, starts nobody answers, servers a dead
process left half-way, and the one source of truth for aliases."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body, make_settings

from pciplane.api.app import create_app
from pciplane.core.errors import InUseError
from pciplane.core.lifecycle import ServerState
from pciplane.service.context import Services
from pciplane.store import servers
from pciplane.store.tables import hosts

ADMIN_H = auth(ADMIN)
FLAVOR = {
    "name": "m1.gpu",
    "vcpus": 1,
    "ram": 512,
    "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
}


def _client(db_url: str, **overrides: object) -> Iterator[TestClient]:
    app = create_app(make_settings(db_url, **overrides))
    with TestClient(app) as client:
        yield client
    app.state.services.db.dispose()


def _services(client: TestClient) -> Services:
    found: Services = client.app.state.services  # type: ignore[attr-defined]
    return found


def _seed(client: TestClient, hosts: int) -> None:
    for i in range(1, hosts + 1):
        body = host_body(f"cmp{i}", gpus=1)
        client.put(f"/v1/hosts/cmp{i}", json=body, headers=auth(f"tok-cmp{i}"))
    client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H)
    client.post("/v1/flavors", json=FLAVOR, headers=ADMIN_H)


def _create(client: TestClient, name: str) -> dict[str, object]:
    body = {"name": name, "flavor": "m1.gpu"}
    result: dict[str, object] = client.post("/v1/servers", json=body, headers=ADMIN_H).json()
    return result


def _free(client: TestClient, host: str) -> int:
    pools = client.get(f"/v1/hosts/{host}", headers=ADMIN_H).json()["pools"]
    return sum(p["free"] for p in pools)


def _silence(client: TestClient, host: str, seconds: float) -> None:
    """Make ``host``'s agent last heard from ``seconds`` ago (as if it went quiet then)."""
    services = _services(client)
    with services.db.write() as conn:
        conn.execute(
            sa.update(hosts).where(hosts.c.name == host).values(last_seen=time.time() - seconds)
        )


def test_a_host_whose_agent_went_quiet_is_ruled_out_with_that_reason(
    app_client: TestClient,
) -> None:
    client = app_client
    _seed(client, 2)
    _silence(client, "cmp1", 200)
    fit = {h["name"]: h for h in client.post("/v1/fit", json={"flavor": "m1.gpu"},
                                            headers=ADMIN_H).json()["hosts"]}  # fmt: skip
    assert fit["cmp2"]["fits"] and not fit["cmp1"]["fits"]
    assert re.fullmatch(r"agent down: last report 20\ds ago \(agent_down_time 75s\)",
                        fit["cmp1"]["reason"])  # fmt: skip
    listed = client.get("/v1/hosts", headers=ADMIN_H).json()["hosts"]
    hosts_alive = {h["name"]: h["alive"] for h in listed}
    assert hosts_alive == {"cmp1": False, "cmp2": True}
    assert _create(client, "a")["host"] == "cmp2"
    refused = _create(client, "b")
    assert refused["state"] == "ERROR"
    assert "1 host(s): agent down: last report" in str(refused["reason"])
    # The agent polls again: its host is back.
    assert client.get("/v1/hosts/cmp1/work", headers=auth("tok-cmp1")).status_code == 200
    assert _create(client, "c")["host"] == "cmp1"


@pytest.mark.parametrize(
    ("hosts", "state", "host"),
    [
        pytest.param(2, "BUILD", "cmp2", id="rescheduled-elsewhere"),
        pytest.param(1, "ERROR", None, id="no-other-host"),
    ],
)
def test_a_start_no_agent_answers_expires_and_frees_the_devices(
    app_client: TestClient, hosts: int, state: str, host: str | None
) -> None:
    client = app_client
    _seed(client, hosts)
    server = _create(client, "vm")
    assert (server["state"], server["host"]) == ("BUILD", "cmp1")
    # The agent took the start and was never heard of again.
    (taken,) = client.get("/v1/hosts/cmp1/work", headers=auth("tok-cmp1")).json()["work"]
    services = _services(client)
    later = time.time() + services.settings.build_timeout + 1
    assert services.housekeeper.run_once(now=later) == (1, 0)
    after = client.get(f"/v1/servers/{server['id']}", headers=ADMIN_H).json()
    assert (after["state"], after["host"]) == (state, host)
    assert "no agent on cmp1 started it within 300s" in after["faults"][0]["reason"]
    assert _free(client, "cmp1") == 1
    # The late agent's answer is refused: the item expired, and nothing changes.
    late = client.post(f"/v1/work/{taken['id']}", json={"ok": True}, headers=auth("tok-cmp1"))
    assert (late.status_code, late.json()["errors"][0]["code"]) == (409, "pciplane.state")
    assert client.get(f"/v1/servers/{server['id']}", headers=ADMIN_H).json() == after


def test_a_server_left_unplaced_by_a_dead_process_is_placed_again(app_client: TestClient) -> None:
    """A process rescheduling a server freed its claim and died before placing it again."""
    client = app_client
    _seed(client, 1)
    services = _services(client)
    server = services.servers.get(str(_create(client, "vm")["id"]))
    orphan = replace(server, id="0c6e1f3a-0000-4000-8000-000000000001", name="orphan",
                     host=None, attempts=1, guest_plan=None, devices=(),
                     updated_at=time.time() - 3600)  # fmt: skip
    client.delete(f"/v1/servers/{server.id}", headers=ADMIN_H)  # frees the only GPU
    with services.db.write() as conn:
        servers.insert_server(conn, orphan)
    assert services.housekeeper.run_once() == (0, 1)
    placed = client.get(f"/v1/servers/{orphan.id}", headers=ADMIN_H).json()
    assert (placed["state"], placed["host"], placed["attempts"]) == ("BUILD", "cmp1", 2)
    assert [w["server_id"] for w in client.get("/v1/hosts/cmp1/work",
            headers=auth("tok-cmp1")).json()["work"]] == [orphan.id]  # fmt: skip
    assert services.housekeeper.run_once() == (0, 0)


def test_a_recent_unplaced_server_is_left_to_the_process_placing_it(
    app_client: TestClient,
) -> None:
    client = app_client
    _seed(client, 1)
    services = _services(client)
    server = services.servers.get(str(_create(client, "vm")["id"]))
    fresh = replace(server, id="0c6e1f3a-0000-4000-8000-000000000002", name="fresh", host=None,
                    guest_plan=None, devices=(), updated_at=time.time())  # fmt: skip
    with services.db.write() as conn:
        servers.insert_server(conn, fresh)
    assert services.housekeeper.run_once() == (0, 0)
    assert services.servers.get(fresh.id).state is ServerState.BUILD


# --- aliases: one source of truth ---------------------------------------------------


@pytest.fixture
def alias_file(tmp_path: Path) -> Path:
    path = tmp_path / "aliases.json"
    path.write_text(json.dumps([GPU_ALIAS]))
    return path


def test_with_an_alias_file_the_api_does_not_manage_aliases(db_url: str, alias_file: Path) -> None:
    for client in _client(db_url, alias_file=str(alias_file)):
        listing = client.get("/v1/aliases", headers=ADMIN_H).json()
        assert listing["source"] == str(alias_file)
        other = {**GPU_ALIAS, "name": "other"}
        refused = [
            client.post("/v1/aliases", json=other, headers=ADMIN_H),
            client.delete("/v1/aliases/large_GPU", headers=ADMIN_H),
        ]
        assert [(r.status_code, r.json()["errors"][0]["code"]) for r in refused] == [
            (409, "pciplane.in_use")
        ] * 2
        assert "edit it and run 'pciplane alias reload'" in refused[0].json()["errors"][0]["detail"]
        assert client.get("/v1/aliases", headers=ADMIN_H).json() == listing


def test_a_reload_or_a_restart_that_would_strand_a_flavor_is_refused(
    db_url: str, alias_file: Path
) -> None:
    for client in _client(db_url, alias_file=str(alias_file)):
        client.post("/v1/flavors", json=FLAVOR, headers=ADMIN_H)
        alias_file.write_text(json.dumps([{**GPU_ALIAS, "name": "renamed"}]))
        refused = client.post("/v1/aliases/reload", headers=ADMIN_H)
        assert refused.status_code == 409
        assert (
            "alias 'large_GPU' is used by flavor(s) m1.gpu" in refused.json()["errors"][0]["detail"]
        )
        assert [
            a["name"] for a in client.get("/v1/aliases", headers=ADMIN_H).json()["aliases"]
        ] == ["large_GPU"]
    with pytest.raises(InUseError, match=r"loading the alias file .* would strand flavors"):
        create_app(make_settings(db_url, alias_file=str(alias_file)))


def test_without_an_alias_file_aliases_live_in_the_database(db_url: str, tmp_path: Path) -> None:
    for client in _client(db_url):
        assert client.post("/v1/aliases", json=GPU_ALIAS, headers=ADMIN_H).status_code == 201
    for client in _client(db_url):  # a restart keeps what the API created
        names = [a["name"] for a in client.get("/v1/aliases", headers=ADMIN_H).json()["aliases"]]
        assert names == ["large_GPU"]
        assert client.get("/v1/aliases", headers=ADMIN_H).json()["source"] == "api"


def test_an_alias_error_names_the_entry_being_added(app_client: TestClient) -> None:
    """Not its place in the whole stored set (which the caller cannot see)."""
    client = app_client
    for product in ("1db4", "1eb8", "20b5"):
        entry = {**GPU_ALIAS, "product_id": product}
        assert client.post("/v1/aliases", json=entry, headers=ADMIN_H).status_code == 201
    bad = {**GPU_ALIAS, "product_id": "2236", "numa_policy": "required"}
    refused = client.post("/v1/aliases", json=bad, headers=ADMIN_H)
    detail = refused.json()["errors"][0]["detail"]
    assert refused.status_code == 400
    assert "entry 3" not in detail and "'2236'" in detail
    assert "earlier entries say 'legacy', this one 'required'" in detail
