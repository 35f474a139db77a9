"""``host disable|enable``: a disabled host takes no new server and every "no valid host"
names it with the operator's reason, as one host rule (fit, capacity and placement
alike); its servers go on (stop and start as before); ``host show`` lists the servers on
the host with the devices and ports each holds; Nova's os-hypervisors and the web UI
show the state."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from net_helpers import ADMIN_H, ALPHA, NET_SPEC, flavor, port, register, vlan
from net_helpers import run_agent as agent_turn
from net_helpers import server as create
from os_helpers import COMPUTE, nova
from svc_helpers import ADMIN, make_settings

from pciplane.api.app import create_app

REASON = "firmware upgrade, ticket 42"
RULE = f"host disabled by an operator: {REASON}"


@pytest.fixture
def client(db_url: str) -> Any:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC))
    with TestClient(app, follow_redirects=False) as test_client:
        register(test_client, "cmp1", gpus=2)
        flavor(test_client, "g1", alias="gpu:1")
        yield test_client
    app.state.services.db.dispose()


def _disable(client: TestClient, reason: str | None = REASON) -> Any:
    return client.post("/v1/hosts/cmp1/disable", json={"reason": reason}, headers=ADMIN_H)


def test_a_disabled_host_takes_no_new_server_and_says_why(client: TestClient) -> None:
    running = create(client, "before", "g1", [])
    agent_turn(client, "cmp1")
    answer = _disable(client)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["disabled"], answer.json()["disabled_reason"]) == (True, REASON)

    refused = create(client, "after", "g1", [])
    assert refused["state"] == "ERROR"
    assert f"1 host(s): {RULE} (cmp1)" in refused["reason"]
    fit = client.post("/v1/fit", json={"flavor": "g1"}, headers=ADMIN_H).json()
    assert [(h["name"], h["fits"], h["reason"]) for h in fit["hosts"]] == [("cmp1", False, RULE)]
    cap = client.post("/v1/capacity", json={"flavor": "g1"}, headers=ADMIN_H).json()
    assert (cap["total"], cap["limited_by"]) == (0, {RULE: 1})

    # Its own servers go on: a stop and a start still reach its agent.
    assert client.post(f"/v1/servers/{running['id']}/stop", headers=ALPHA).status_code == 202
    assert agent_turn(client, "cmp1")[0]["state"] == "SHUTOFF"

    listed = client.get("/v1/hosts", headers=ADMIN_H).json()["hosts"]
    assert [(h["name"], h["disabled"], h["disabled_reason"]) for h in listed] == [
        ("cmp1", True, REASON)
    ]
    enabled = client.post("/v1/hosts/cmp1/enable", headers=ADMIN_H).json()
    assert (enabled["disabled"], enabled["disabled_reason"]) == (False, None)
    assert create(client, "again", "g1", [])["state"] == "BUILD"


def test_disable_without_a_reason_and_only_by_the_admin(client: TestClient) -> None:
    denied = client.post("/v1/hosts/cmp1/disable", json={}, headers=ALPHA)
    assert denied.status_code == 403
    assert client.post("/v1/hosts/nope/disable", json={}, headers=ADMIN_H).status_code == 404
    assert _disable(client, None).json()["disabled_reason"] is None
    refused = create(client, "after", "g1", [])
    assert "1 host(s): host disabled by an operator (cmp1)" in refused["reason"]


def test_host_show_lists_servers_with_their_devices_and_ports(client: TestClient) -> None:
    net = vlan(client, "net1", "physnet1", 100)
    nic = port(client, net["id"], name="p1", **{"binding:vnic_type": "direct"})
    server = create(client, "vm1", "g1", [{"port_id": nic["id"]}])
    shown = client.get("/v1/hosts/cmp1", headers=ADMIN_H).json()
    (entry,) = shown["servers"]
    assert (entry["name"], entry["project"], entry["state"]) == ("vm1", "alpha", "BUILD")
    assert entry["devices"] == server["devices"] and len(entry["devices"]) == 2
    (bound,) = entry["ports"]
    assert (bound["name"], bound["vnic_type"]) == ("p1", "direct")
    assert bound["pci_slot"] in entry["devices"]
    # The agent's own view of its host (its registration) does not carry the servers.
    agent = client.get("/v1/hosts/cmp1", headers={"Authorization": "Bearer tok-cmp1"}).json()
    assert agent["servers"] == []


def test_nova_hypervisors_and_the_web_ui_show_the_state(client: TestClient) -> None:
    _disable(client)
    shown = client.get(f"{COMPUTE}/os-hypervisors/detail", headers=nova(ADMIN, "2.53")).json()
    (hypervisor,) = shown["hypervisors"]
    assert (hypervisor["status"], hypervisor["service"]["disabled_reason"]) == ("disabled", REASON)
    client.post(
        "/ui/login",
        content=f"token={ADMIN}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    fleet = client.get("/ui/fleet?state=disabled").text
    assert f'title="{REASON}">disabled</span>' in fleet.replace("&#39;", "'")
    page = client.get("/ui/hosts/cmp1").text
    assert f"disabled: {REASON}" in page
    client.post("/v1/hosts/cmp1/enable", headers=ADMIN_H)
    assert "cmp1" not in client.get("/ui/fleet?state=disabled").text.split("<tbody")[-1]
