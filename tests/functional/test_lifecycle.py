"""A server's life through the API: register, catalogue, create, start, delete, free."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from svc_helpers import ADMIN, GPU_ALIAS, auth, host_body

AGENT1 = auth("tok-cmp1")


def _catalogue(client: TestClient) -> None:
    assert client.post("/v1/aliases", json=GPU_ALIAS, headers=auth(ADMIN)).status_code == 201
    body = {
        "name": "m1.gpu",
        "vcpus": 2,
        "ram": 2048,
        "extra_specs": {"pci_passthrough:alias": "large_GPU:1"},
    }
    assert client.post("/v1/flavors", json=body, headers=auth(ADMIN)).status_code == 201


def _pools(client: TestClient, host: str) -> tuple[int, int]:
    detail = client.get(f"/v1/hosts/{host}", headers=auth(ADMIN)).json()
    return sum(p["used"] for p in detail["pools"]), sum(p["free"] for p in detail["pools"])


def test_create_start_delete_frees_devices(app_client: TestClient) -> None:
    client = app_client
    assert client.put("/v1/hosts/cmp1", json=host_body("cmp1"), headers=AGENT1).status_code == 200
    _catalogue(client)
    created = client.post(
        "/v1/servers", json={"name": "vm1", "flavor": "m1.gpu"}, headers=auth("tok-alpha")
    )
    assert created.status_code == 201, created.text
    server = created.json()
    assert (server["state"], server["host"], len(server["devices"])) == ("BUILD", "cmp1", 1)
    assert _pools(client, "cmp1") == (1, 1)

    work = client.get("/v1/hosts/cmp1/work", headers=AGENT1).json()["work"]
    assert [(w["kind"], w["server_id"]) for w in work] == [("start", server["id"])]
    plan = work[0]["plan"]
    assert plan == server["guest_plan"]
    assert (plan["uuid"], plan["name"]) == (server["id"], f"vm1-{server['id'][:8]}")
    assert [(d["address"], d["attach"], d["request"]) for d in plan["devices"]] == [
        (server["devices"][0], "hostdev", "large_GPU")
    ]
    defined = "<domain type='kvm'>...</domain>"
    done = client.post(
        f"/v1/work/{work[0]['id']}", json={"ok": True, "domain_xml": defined}, headers=AGENT1
    )
    assert (done.json()["state"], done.json()["domain_xml"]) == ("ACTIVE", defined)

    deleting = client.delete(f"/v1/servers/{server['id']}", headers=auth("tok-alpha"))
    assert deleting.status_code == 202
    assert deleting.json()["task"] == "deleting"
    stop = client.get("/v1/hosts/cmp1/work", headers=AGENT1).json()["work"]
    assert [w["kind"] for w in stop] == ["stop"]
    gone = client.post(f"/v1/work/{stop[0]['id']}", json={"ok": True}, headers=AGENT1)
    assert gone.json()["state"] == "DELETED"
    assert _pools(client, "cmp1") == (0, 2)


@pytest.mark.parametrize("gpus", [pytest.param(1, id="one-gpu"), pytest.param(0, id="no-gpu")])
def test_no_valid_host_says_why(app_client: TestClient, gpus: int) -> None:
    client = app_client
    client.put("/v1/hosts/cmp1", json=host_body("cmp1", gpus=gpus), headers=AGENT1)
    _catalogue(client)
    first = client.post("/v1/servers", json={"name": "a", "flavor": "m1.gpu"}, headers=auth(ADMIN))
    second = client.post("/v1/servers", json={"name": "b", "flavor": "m1.gpu"}, headers=auth(ADMIN))
    states = [first.json()["state"], second.json()["state"]]
    assert states == (["BUILD", "ERROR"] if gpus else ["ERROR", "ERROR"])
    reason = second.json()["reason"]
    assert "No valid host" in reason and "cmp1" in reason and "large_GPU" in reason


def test_no_valid_host_groups_hosts_by_their_exact_reason(app_client: TestClient) -> None:
    """Two hosts ruled out by the same request at the same stage for different reasons:
    each is quoted with its own reason, never another host's."""
    client = app_client
    client.put("/v1/hosts/cmp1", json=host_body("cmp1", gpus=1), headers=AGENT1)
    client.put("/v1/hosts/cmp2", json=host_body("cmp2", gpus=0), headers=auth("tok-cmp2"))
    _catalogue(client)
    client.post("/v1/servers", json={"name": "a", "flavor": "m1.gpu"}, headers=auth(ADMIN))
    refused = client.post(
        "/v1/servers", json={"name": "b", "flavor": "m1.gpu"}, headers=auth(ADMIN)
    ).json()
    reason = refused["reason"]
    assert "(0 of 2 hosts fit)" in reason
    assert (
        "1 host(s): large_GPU: no free device matches {10de:1db4 type-PCI} (1 in use) (cmp1)"
        in reason
    )
    assert "1 host(s): large_GPU: no free device matches {10de:1db4 type-PCI} (cmp2)" in reason
