"""The agent's side of the API: failed starts reschedule, restarts redeliver, metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body

ADMIN_H = auth(ADMIN)


def _seed(client: TestClient, hosts: int) -> None:
    for i in range(1, hosts + 1):
        client.put(
            f"/v1/hosts/cmp{i}", json=host_body(f"cmp{i}", gpus=1), headers=auth(f"tok-cmp{i}")
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


def _fail_start(client: TestClient, host: str, reason: str) -> dict[str, object]:
    agent = auth(f"tok-{host}")
    (item,) = client.get(f"/v1/hosts/{host}/work", headers=agent).json()["work"]
    assert item["kind"] == "start"
    response = client.post(
        f"/v1/work/{item['id']}", json={"ok": False, "reason": reason}, headers=agent
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


@pytest.mark.parametrize(
    ("hosts", "failures", "final_state"),
    [
        pytest.param(3, 1, "BUILD", id="one-failure-rescheduled"),
        pytest.param(3, 3, "ERROR", id="max-attempts-then-error"),
        pytest.param(2, 2, "ERROR", id="runs-out-of-hosts"),
    ],
)
def test_failed_start_frees_and_reschedules(
    app_client: TestClient, hosts: int, failures: int, final_state: str
) -> None:
    client = app_client
    _seed(client, hosts)
    server = client.post(
        "/v1/servers", json={"name": "vm", "flavor": "m1.gpu"}, headers=ADMIN_H
    ).json()
    tried = []
    for k in range(failures):
        tried.append(server["host"])
        server = _fail_start(client, str(server["host"]), f"boom {k}")
    assert server["state"] == final_state
    assert len(set(tried)) == failures  # never the same host twice
    if final_state == "ERROR":
        for k, host in enumerate(tried):
            assert f"boom {k}" in server["reason"] and host in server["reason"]
        assert server["devices"] == [] and server["host"] is None
    else:
        assert server["host"] not in tried and len(server["devices"]) == 1
    used = [
        sum(p["used"] for p in h["pools"])
        for h in client.get("/v1/hosts", headers=ADMIN_H).json()["hosts"]
    ]
    assert sum(used) == (1 if final_state == "BUILD" else 0)


def test_restarted_agent_gets_unanswered_work_again(app_client: TestClient) -> None:
    client = app_client
    _seed(client, 1)
    agent = auth("tok-cmp1")
    client.post("/v1/servers", json={"name": "vm", "flavor": "m1.gpu"}, headers=ADMIN_H)
    first = client.get("/v1/hosts/cmp1/work", headers=agent).json()["work"]
    assert client.get("/v1/hosts/cmp1/work", headers=agent).json()["work"] == []
    client.put("/v1/hosts/cmp1", json=host_body("cmp1", gpus=1), headers=agent)  # restart
    again = client.get("/v1/hosts/cmp1/work", headers=agent).json()["work"]
    assert [w["id"] for w in again] == [w["id"] for w in first]
    # the report keeps the claim: the device stays held across the re-registration
    (host,) = client.get("/v1/hosts", headers=ADMIN_H).json()["hosts"]
    assert [(p["used"], p["free"]) for p in host["pools"]] == [(1, 0)]


def test_delete_before_the_agent_took_the_start_frees_at_once(app_client: TestClient) -> None:
    client = app_client
    _seed(client, 1)
    server = client.post(
        "/v1/servers", json={"name": "vm", "flavor": "m1.gpu"}, headers=ADMIN_H
    ).json()
    gone = client.delete(f"/v1/servers/{server['id']}", headers=ADMIN_H).json()
    assert (gone["state"], gone["devices"]) == ("DELETED", [])
    assert client.get("/v1/hosts/cmp1/work", headers=auth("tok-cmp1")).json()["work"] == []


BRIDGE = {
    "address": "0000:00:01.0",
    "vendor_id": "8086",
    "product_id": "0d57",
    "dev_type": "type-PCI",
    "numa_node": 0,
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(name, sorted labels) -> value`` of every sample in an exposition text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_report_fleet_and_scheduling(app_client: TestClient) -> None:
    client = app_client
    _seed(client, 2)
    # A root port no device_spec allows: never counted as a pool device.
    body = host_body("cmp1", gpus=1)
    body["devices"] = [*body["devices"], BRIDGE]  # type: ignore[list-item]
    client.put("/v1/hosts/cmp1", json=body, headers=auth("tok-cmp1"))
    for name in ("a", "b", "c"):
        client.post("/v1/servers", json={"name": name, "flavor": "m1.gpu"}, headers=ADMIN_H)
    text = client.get("/metrics").text
    got = _samples(text)
    pool = (("dev_type", "type-PCI"), ("pool", "10de:1db4 type-PCI NUMA 0"),
            ("vendor_product", "10de:1db4"))  # fmt: skip
    assert got[("pciplane_hosts", ())] == 2
    assert got[("pciplane_hosts_alive", ())] == 2
    assert got[("pciplane_pool_devices", tuple(sorted((*pool, ("free", "false")))))] == 2
    assert got[("pciplane_pool_devices", tuple(sorted((*pool, ("free", "true")))))] == 0
    assert "8086:0d57" not in text
    assert got[("pciplane_schedule_total", (("outcome", "placed"),))] == 2
    assert got[("pciplane_schedule_total", (("outcome", "no_valid_host"),))] == 1
    assert got[("pciplane_schedule_seconds_count", ())] == 3
    assert ("pciplane_agent_last_seen_seconds", (("host", "cmp1"),)) in got


def test_fit_and_export_reflect_live_state(app_client: TestClient) -> None:
    client = app_client
    _seed(client, 2)
    client.post("/v1/servers", json={"name": "a", "flavor": "m1.gpu"}, headers=ADMIN_H)
    fit = client.post("/v1/fit", json={"flavor": "m1.gpu"}, headers=ADMIN_H).json()
    assert fit["fit_count"] == 1
    refused = [h for h in fit["hosts"] if not h["fits"]]
    assert len(refused) == 1 and "large_GPU" in refused[0]["reason"]
    snapshot = client.get("/v1/export", headers=ADMIN_H).json()
    statuses = sorted(d["status"] for h in snapshot["hosts"] for d in h["devices"])
    assert (snapshot["format"], statuses) == ("pciplane-fleet/1", ["available", "claimed"])
    assert snapshot["alias"] == [GPU_ALIAS]


def test_capacity_reflects_live_state_and_claims_nothing(app_client: TestClient) -> None:
    client = app_client
    _seed(client, 2)
    client.post("/v1/servers", json={"name": "a", "flavor": "m1.gpu"}, headers=ADMIN_H)
    before = client.get("/v1/export", headers=ADMIN_H).json()
    cap = client.post("/v1/capacity", json={"flavor": "m1.gpu"}, headers=ADMIN_H).json()
    assert cap["total"] == 1
    assert sorted(h["servers"] for h in cap["hosts"]) == [0, 1]
    assert cap["limited_by"] == {"large_GPU": 2}
    assert client.get("/v1/export", headers=ADMIN_H).json() == before
    denied = client.post("/v1/capacity", json={"flavor": "m1.gpu"}, headers=auth("tok-cmp1"))
    assert denied.status_code == 403
