"""Neutron's v2.0 API on pciplane: networks, ports, extensions and agents, as the
``openstack`` CLI and openstacksdk send them (openstack-clients §5-§7), on SQLite and
PostgreSQL. Every bad input is a clear 4xx naming the field, and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from net_helpers import (
    ADMIN_H,
    ALPHA,
    BETA,
    flat,
    network,
    neutron_error,
    port,
    register,
    rows,
    stale,
    vlan,
)
from svc_helpers import make_settings

from pciplane.api.app import create_app


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[TestClient]:
    """SQLite only, for the tables of bad input: what they check is the API's refusal, and
    the database-level rules run on both backends in the other tests."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'lite.db'}"))
    with TestClient(app) as client:
        yield client
    app.state.services.db.dispose()


# --- networks ---------------------------------------------------------------------


def test_cli_shaped_network_create_answers_neutrons_shape(app_client: TestClient) -> None:
    body = {"network": {"name": "net1", "admin_state_up": True,
                        "provider:network_type": "vlan",
                        "provider:physical_network": "physnet1",
                        "provider:segmentation_id": "100"}}  # fmt: skip
    answer = app_client.post("/v2.0/networks", json=body, headers=ADMIN_H)
    assert answer.status_code == 201, answer.text
    net = answer.json()["network"]
    assert net["provider:segmentation_id"] == 100  # the CLI's string, an id
    assert (net["provider:network_type"], net["provider:physical_network"]) == ("vlan", "physnet1")
    assert {"id", "name", "status", "admin_state_up", "mtu", "subnets", "project_id",
            "tenant_id", "shared", "router:external"} <= net.keys()  # fmt: skip
    assert "segments" not in net
    listed = app_client.get("/v2.0/networks?name=net1", headers=ADMIN_H).json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]


def test_multi_segment_network_shows_segments(app_client: TestClient) -> None:
    segments = [
        {"provider:network_type": "vxlan", "provider:segmentation_id": 5000},
        {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
         "provider:segmentation_id": 101},
        {"provider:network_type": "flat", "provider:physical_network": "physnet2"},
    ]  # fmt: skip
    net = network(app_client, "multi", segments=segments)
    assert "provider:network_type" not in net
    assert net["segments"] == [
        {"provider:network_type": "vxlan", "provider:physical_network": None,
         "provider:segmentation_id": 5000},
        {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
         "provider:segmentation_id": 101},
        {"provider:network_type": "flat", "provider:physical_network": "physnet2",
         "provider:segmentation_id": None},
    ]  # fmt: skip


def test_provider_attributes_are_the_admins(app_client: TestClient) -> None:
    net = vlan(app_client, "shared1", "physnet1", 100)
    own = network(app_client, "mine", headers=ALPHA)
    seen = app_client.get("/v2.0/networks", headers=ALPHA).json()["networks"]
    assert {n["id"] for n in seen} == {net["id"], own["id"]}
    assert all("provider:network_type" not in n for n in seen)
    assert app_client.get(f"/v2.0/networks/{own['id']}", headers=BETA).status_code == 404
    admin_view = app_client.get(f"/v2.0/networks/{own['id']}", headers=ADMIN_H).json()
    assert admin_view["network"]["provider:network_type"] == "local"  # ML2's default
    body = {"network": {"name": "x", "provider:network_type": "flat",
                        "provider:physical_network": "physnet9"}}  # fmt: skip
    answer = app_client.post("/v2.0/networks", json=body, headers=ALPHA)
    assert answer.status_code == 403
    assert app_client.delete(f"/v2.0/networks/{net['id']}", headers=ALPHA).status_code == 403


def P(kind: str, physnet: str | None = None, seg: object = None) -> dict[str, object]:
    out: dict[str, object] = {"provider:network_type": kind}
    if physnet is not None:
        out["provider:physical_network"] = physnet
    if seg is not None:
        out["provider:segmentation_id"] = seg
    return out


@pytest.mark.parametrize(
    ("attrs", "status", "words"),
    [
        pytest.param(P("vlan", "physnet1", 4095), 400, "segmentation_id: 4095 is not a vlan id",
                     id="vlan-4095"),
        pytest.param(P("vlan", "physnet1", 0), 400, "segmentation_id: 0", id="vlan-0"),
        pytest.param(P("vlan", None, 100), 400, "physical_network: a vlan network needs",
                     id="vlan-no-physnet"),
        pytest.param(P("vlan", "physnet1"), 400, "needs its VLAN id", id="vlan-no-id"),
        pytest.param(P("flat", "physnet1", 5), 400, "a flat network takes no segmentation id",
                     id="flat-with-id"),
        pytest.param(P("flat"), 400, "a flat network needs a physical network", id="flat-bare"),
        pytest.param(P("vxlan", "physnet1", 5), 400, "a vxlan network has no physical network",
                     id="vxlan-physnet"),
        pytest.param(P("vxlan", None, 2**24), 400, "not a vxlan id", id="vni-too-big"),
        pytest.param(P("local", None, 3), 400, "a local network takes no", id="local-id"),
        pytest.param(P("ethernet"), 400, "invalid network type 'ethernet'", id="type"),
        pytest.param(P("vlan", "physnet1", True), 400, "provider:segmentation_id", id="bool-id"),
        pytest.param(P("vlan", "physnet1", "1e2"), 400, "provider:segmentation_id", id="id-text"),
        pytest.param({"provider:physical_network": "physnet1"}, 400,
                     "provider:network_type: required", id="physnet-alone"),
        pytest.param({**P("flat", "physnet1"), "segments": [P("flat", "physnet2")]}, 400,
                     "not both", id="both-forms"),
        pytest.param({"segments": [P("flat", "physnet2"), P("flat", "physnet2")]}, 400,
                     "listed twice", id="duplicate-segments"),
        pytest.param({"segments": []}, 400, "segments", id="empty-segments"),
        pytest.param({"segments": [{"provider:network_type": "vlan", "vlan": 3}]}, 400,
                     "segments.0.vlan", id="segment-unknown-key"),
        pytest.param({"mtu": 9000}, 400, "mtu: 9000 is above", id="mtu-above-physnet"),
        pytest.param({"mtu": 10}, 400, "network.mtu", id="mtu-too-small"),
        pytest.param({"name": "x" * 256}, 400, "network.name", id="long-name"),
        pytest.param({"name": "a\x00b"}, 400, "NUL", id="nul"),
        pytest.param({"shared": "yes"}, 400, "network.shared", id="shared-string"),
        pytest.param({"provider_network_type": "vlan"}, 400, "provider_network_type",
                     id="underscore-name"),
        pytest.param({"admin_state_up": 1}, 400, "admin_state_up", id="admin-state-int"),
    ],
)  # fmt: skip
def test_impossible_networks_are_refused_and_change_nothing(
    lite: TestClient, attrs: dict[str, Any], status: int, words: str
) -> None:
    vlan(lite, "existing", "physnet1", 200)
    before = rows(lite)
    body = {"network": {"name": "n", **attrs}} if "name" not in attrs else {"network": attrs}
    answer = lite.post("/v2.0/networks", json=body, headers=ADMIN_H)
    assert words in neutron_error(answer, status)
    assert rows(lite) == before


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        pytest.param(P("vlan", "physnet1", 200), "VLAN 200 on physical network physnet1 is in use",
                     id="vlan-taken"),
        pytest.param(P("flat", "physnet2"), "physical network physnet2 is in use", id="flat-taken"),
        pytest.param({"segments": [P("vlan", "physnet1", 300), P("vlan", "physnet1", 200)]},
                     "VLAN 200", id="segment-taken"),
    ],
)  # fmt: skip
def test_a_segment_belongs_to_one_network(
    app_client: TestClient, attrs: dict[str, Any], words: str
) -> None:
    vlan(app_client, "a", "physnet1", 200)
    flat(app_client, "b", "physnet2")
    before = rows(app_client)
    answer = app_client.post("/v2.0/networks", json={"network": attrs}, headers=ADMIN_H)
    assert words in neutron_error(answer, 409)
    assert rows(app_client) == before


def test_network_update_and_delete(app_client: TestClient) -> None:
    net = vlan(app_client, "n1", "physnet1", 100)
    path = f"/v2.0/networks/{net['id']}"
    answer = app_client.put(path, json={"network": {"name": "renamed", "mtu": 1400}},
                            headers=ADMIN_H)  # fmt: skip
    assert answer.json()["network"]["name"] == "renamed"
    assert answer.json()["network"]["revision_number"] == 2
    provider = {"network": {"provider:segmentation_id": 7}}
    assert app_client.put(path, json=provider, headers=ADMIN_H).status_code == 400
    used = port(app_client, net["id"])
    assert app_client.delete(path, headers=ADMIN_H).status_code == 409
    assert app_client.delete(f"/v2.0/ports/{used['id']}", headers=ALPHA).status_code == 204
    assert app_client.delete(path, headers=ADMIN_H).status_code == 204
    assert app_client.get(path, headers=ADMIN_H).status_code == 404


# --- ports ------------------------------------------------------------------------

UNBOUND = {"binding:host_id": "", "binding:vif_type": "unbound", "binding:vif_details": {},
           "status": "DOWN", "device_id": "", "device_owner": ""}  # fmt: skip


@pytest.mark.parametrize(
    "vnic",
    ["normal", "direct", "macvtap", "direct-physical", "baremetal", "virtio-forwarder", "vdpa",
     "accelerator-direct", "accelerator-direct-physical", "remote-managed", "smart-nic"],
)  # fmt: skip
def test_ports_take_every_neutron_vnic_type(lite: TestClient, vnic: str) -> None:
    net = vlan(lite, "n", "physnet1", 100)
    attrs = {"binding:vnic_type": vnic, "binding:profile": {"trusted": "true"}}
    made = port(lite, net["id"], name="p", **attrs)
    assert made["binding:vnic_type"] == vnic
    assert made["binding:profile"] == {"trusted": "true"}
    assert {k: made[k] for k in UNBOUND} == UNBOUND
    assert made["mac_address"].startswith("fa:16:3e:")
    assert made["port_security_enabled"] is True and made["numa_affinity_policy"] is None


def test_default_vnic_type_is_normal_and_macs_are_unique_per_network(
    app_client: TestClient,
) -> None:
    net = vlan(app_client, "n", "physnet1", 100)
    other = vlan(app_client, "m", "physnet1", 101)
    first = port(app_client, net["id"], mac_address="FA:16:3E:00:00:01")
    assert (first["binding:vnic_type"], first["mac_address"]) == ("normal", "fa:16:3e:00:00:01")
    again = {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}}
    answer = app_client.post("/v2.0/ports", json=again, headers=ALPHA)
    assert "in use" in neutron_error(answer, 409)
    port(app_client, other["id"], mac_address="fa:16:3e:00:00:01")  # another network: fine
    macs = {port(app_client, net["id"])["mac_address"] for _ in range(20)}
    assert len(macs) == 20


def test_port_filters_and_project_isolation(app_client: TestClient) -> None:
    net = vlan(app_client, "n", "physnet1", 100)
    other = vlan(app_client, "m", "physnet1", 101)
    mine = port(app_client, net["id"], name="web", device_id="dev-1")
    port(app_client, other["id"], name="web")
    theirs = port(app_client, net["id"], name="web", headers=BETA)

    def names(query: str, headers: dict[str, str] = ALPHA) -> list[str]:
        return [p["id"] for p in app_client.get(f"/v2.0/ports{query}",
                                                 headers=headers).json()["ports"]]  # fmt: skip

    assert len(names("?name=web")) == 2
    assert names(f"?name=web&network_id={net['id']}") == [mine["id"]]
    assert names("?device_id=dev-1") == [mine["id"]]
    assert names("", BETA) == [theirs["id"]]
    assert len(names("?name=web", ADMIN_H)) == 3
    for method in ("get", "delete"):
        assert getattr(app_client, method)(f"/v2.0/ports/{theirs['id']}",
                                           headers=ALPHA).status_code == 404  # fmt: skip
    put = app_client.put(f"/v2.0/ports/{theirs['id']}", json={"port": {"name": "x"}},
                         headers=ALPHA)  # fmt: skip
    assert put.status_code == 404
    private = network(app_client, "private", headers=BETA)
    body = {"port": {"network_id": private["id"]}}
    assert app_client.post("/v2.0/ports", json=body, headers=ALPHA).status_code == 404
    foreign = {"port": {"network_id": net["id"], "project_id": "beta"}}
    assert app_client.post("/v2.0/ports", json=foreign, headers=ALPHA).status_code == 403


@pytest.mark.parametrize(
    ("attrs", "status", "words"),
    [
        pytest.param({"binding:vnic_type": "hostdev"}, 400, "invalid vnic type 'hostdev'",
                     id="vnic"),
        pytest.param({"mac_address": "fa:16:3e:00:00"}, 400, "mac_address", id="short-mac"),
        pytest.param({"mac_address": "01:00:5e:00:00:01"}, 400, "unicast", id="multicast-mac"),
        pytest.param({"mac_address": "00:00:00:00:00:00"}, 400, "unicast", id="zero-mac"),
        pytest.param({"numa_affinity_policy": "strict"}, 400, "numa_affinity_policy",
                     id="numa"),
        pytest.param({"binding:profile": "trusted=true"}, 400, "binding:profile",
                     id="profile-not-object"),
        pytest.param({"binding:profile": {"pci_slot": "0000:81:02.1"}}, 400,
                     "'pci_slot' is written by the service", id="profile-service-key"),
        pytest.param({"binding:host_id": "cmp1"}, 403, "admin", id="host-not-admin"),
        pytest.param({"port_security_enabled": "false"}, 400, "port_security_enabled",
                     id="security-string"),
        pytest.param({"fixed_ips": [{"ip_address": "10.0.0.3"}]}, 400, "fixed_ips",
                     id="fixed-ips"),
        pytest.param({"binding_vnic_type": "direct"}, 400, "binding_vnic_type",
                     id="underscore-name"),
        pytest.param({"network_id": "no-such-network"}, 404, "could not be found",
                     id="unknown-network"),
        pytest.param({"network_id": "a/b"}, 400, "network_id", id="network-id-shape"),
        pytest.param({"name": "x" * 256}, 400, "port.name", id="long-name"),
        pytest.param({"device_owner": "\udc80"}, 400, "device_owner", id="lone-surrogate"),
        pytest.param({"propagate_uplink_status": None, "admin_state_up": "up"}, 400,
                     "admin_state_up", id="admin-state"),
    ],
)  # fmt: skip
def test_bad_ports_are_refused_and_change_nothing(
    lite: TestClient, attrs: dict[str, Any], status: int, words: str
) -> None:
    net = vlan(lite, "n", "physnet1", 100)
    before = rows(lite)
    body = json.dumps({"port": {"network_id": net["id"], **attrs}})  # \udc80 stays escaped
    headers = {**ALPHA, "Content-Type": "application/json"}
    answer = lite.post("/v2.0/ports", content=body, headers=headers)
    assert words in neutron_error(answer, status)
    assert rows(lite) == before


def test_port_updates(app_client: TestClient) -> None:
    net = vlan(app_client, "n", "physnet1", 100)
    made = port(app_client, net["id"], **{"binding:vnic_type": "direct",
                                          "binding:profile": {"trusted": "true"}})  # fmt: skip
    path = f"/v2.0/ports/{made['id']}"
    change = {"port": {"name": "renamed", "numa_affinity_policy": "required",
                       "admin_state_up": False,
                       "binding:profile": {"pci_group": "g1"}}}  # fmt: skip
    answer = app_client.put(path, json=change, headers=ALPHA)
    assert answer.status_code == 200, answer.text
    after = answer.json()["port"]
    assert (after["name"], after["numa_affinity_policy"], after["admin_state_up"]) == (
        "renamed",
        "required",
        False,
    )
    assert after["binding:profile"] == {"pci_group": "g1"}
    cleared = app_client.put(path, json={"port": {"numa_affinity_policy": None}}, headers=ALPHA)
    assert cleared.json()["port"]["numa_affinity_policy"] is None


# --- binding a port to a host without a server (binding §2) -----------------------


@pytest.mark.parametrize(
    ("vnic", "segment", "vif_type", "details", "status"),
    [
        pytest.param("direct", "vlan", "hw_veb",
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "DOWN",
                     id="direct"),
        pytest.param("macvtap", "flat", "hw_veb",
                     {"port_filter": False, "connectivity": "l2", "vlan": "0"}, "DOWN",
                     id="macvtap-flat"),
        pytest.param("accelerator-direct", "vlan", "hw_veb",
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "DOWN",
                     id="accelerator-direct"),
        pytest.param("direct-physical", "vlan", "hostdev_physical",
                     {"port_filter": False, "connectivity": "l2", "vlan": "100"}, "ACTIVE",
                     id="direct-physical"),
        pytest.param("normal", "vlan", "ovs",
                     {"port_filter": True, "connectivity": "l2", "bridge_name": "br-int"},
                     "DOWN", id="normal"),
    ],
)  # fmt: skip
def test_binding_host_id_binds_exactly_as_neutron(
    app_client: TestClient,
    vnic: str,
    segment: str,
    vif_type: str,
    details: dict[str, object],
    status: str,
) -> None:
    register(app_client, "cmp1")
    net = (
        vlan(app_client, "n", "physnet1", 100) if segment == "vlan"
        else flat(app_client, "n", "physnet1")
    )  # fmt: skip
    made = port(app_client, net["id"], headers=ADMIN_H,
                **{"binding:vnic_type": vnic, "binding:host_id": "cmp1"})  # fmt: skip
    assert (made["binding:host_id"], made["binding:vif_type"], made["status"]) == (
        "cmp1",
        vif_type,
        status,
    )
    assert made["binding:vif_details"] == details
    assert made["binding:profile"] == {}  # no device: nothing for the compute side to add
    path = f"/v2.0/ports/{made['id']}"
    unbound = app_client.put(path, json={"port": {"binding:host_id": ""}}, headers=ADMIN_H)
    assert {k: unbound.json()["port"][k] for k in UNBOUND} == UNBOUND


@pytest.mark.parametrize(
    ("network_attrs", "vnic", "agent", "profile", "settings", "words"),
    [
        pytest.param(P("vlan", "physnet1", 100), "direct", "dead", {}, {},
                     "agent is not alive", id="dead-agent"),
        pytest.param(P("vlan", "physnet9", 100), "direct", "alive", {}, {},
                     "no device to physical network 'physnet9'", id="unmapped-physnet"),
        pytest.param(P("vxlan", None, 77), "direct", "alive", {}, {},
                     "no segment of type flat, vlan", id="tunnel-only"),
        pytest.param(P("vlan", "physnet1", 100), "direct", "alive",
                     {"capabilities": ["switchdev"]}, {}, "'switchdev' capability",
                     id="switchdev"),
        pytest.param(P("vlan", "physnet1", 100), "macvtap", "alive", {},
                     {"vnic_type_prohibit_list": ["macvtap"]}, "does not bind vnic type macvtap",
                     id="prohibited"),
        pytest.param(P("vlan", "physnet1", 100), "direct", "none", {}, {}, "has no agent",
                     id="no-such-host"),
    ],
)  # fmt: skip
def test_host_binding_failures_end_binding_failed(
    db_url: str,
    network_attrs: dict[str, object],
    vnic: str,
    agent: str,
    profile: dict[str, object],
    settings: dict[str, object],
    words: str,
) -> None:
    app = create_app(make_settings(db_url, device_spec=[], agent_down_time=30.0, **settings))
    with TestClient(app) as client:
        register(client, "cmp1")
        if agent == "dead":
            stale(client, "cmp1")
        net = network(client, "n", **network_attrs)
        host = "cmp1" if agent != "none" else "cmp9"
        made = port(client, net["id"], headers=ADMIN_H, **{"binding:vnic_type": vnic,
                    "binding:profile": profile, "binding:host_id": host})  # fmt: skip
        assert (made["binding:vif_type"], made["binding:host_id"]) == ("binding_failed", host)
        assert (made["status"], made["binding:vif_details"]) == ("DOWN", {})
        del words  # the reasons are the server's to show (test_server_ports.py)
    app.state.services.db.dispose()


# --- extensions and agents --------------------------------------------------------


def test_extensions_list_exists_and_names_what_is_served(app_client: TestClient) -> None:
    listed = app_client.get("/v2.0/extensions", headers=ALPHA).json()["extensions"]
    aliases = {e["alias"] for e in listed}
    assert {"binding", "provider", "multi-provider", "port-security"} <= aliases
    one = app_client.get("/v2.0/extensions/binding", headers=ALPHA)
    assert one.json()["extension"]["name"] == "Port Binding"
    missing = app_client.get("/v2.0/extensions/tag-ports-during-bulk-creation", headers=ALPHA)
    assert missing.status_code == 404


def test_agents_show_each_host_alive_and_its_mappings(app_client: TestClient) -> None:
    register(app_client, "cmp1", network={
        "device_mappings": {"physnet1": ["ens129f0"]}, "sriov_only": True,
        "exclude_devices": {"ens129f0": ["0000:81:02.3"]}, "sriov_pci_group": "gold"})  # fmt: skip
    register(app_client, "cmp2", network={})
    stale(app_client, "cmp2")
    agents = app_client.get("/v2.0/agents", headers=ADMIN_H).json()["agents"]
    by_host = {a["host"]: a for a in agents}
    assert (by_host["cmp1"]["alive"], by_host["cmp2"]["alive"]) == (True, False)
    assert by_host["cmp1"]["agent_type"] == "NIC Switch agent"
    assert by_host["cmp1"]["configurations"] == {
        "device_mappings": {"physnet1": ["ens129f0"]},
        "exclude_devices": {"ens129f0": ["0000:81:02.3"]},
        "sriov_auto_all": False,
        "sriov_only": True,
        "sriov_pci_group": "gold",
    }
    one = app_client.get(f"/v2.0/agents/{by_host['cmp1']['id']}", headers=ADMIN_H)
    assert one.json()["agent"]["host"] == "cmp1"
    assert app_client.get("/v2.0/agents", headers=ALPHA).status_code == 403


@pytest.mark.parametrize(
    ("network_body", "words"),
    [
        pytest.param({"device_mappings": {"physnet1": ["ens1f0"]},
                      "exclude_devices": {"ens2f0": ["0000:81:02.1"]}},
                     "device name ens2f0 is missing from physical_device_mappings",
                     id="exclude-unmapped"),
        pytest.param({"device_mappings": {"physnet1": ["ens1f0"], "physnet2": ["ens1f0"]}},
                     "mapped to both", id="pf-twice"),
        pytest.param({"sriov_only": "yes"}, "sriov_only", id="flag-type"),
        pytest.param({"sriov_pci_group": "a b"}, "sriov_pci_group", id="group-name"),
        pytest.param({"exclude_devices": {}, "bogus": 1}, "unknown key 'bogus'", id="unknown"),
    ],
)  # fmt: skip
def test_bad_agent_network_configuration_is_refused(
    lite: TestClient, network_body: dict[str, object], words: str
) -> None:
    before = rows(lite)
    body = {"devices": [], "network": network_body}
    answer = lite.put("/v1/hosts/cmp1", json=body, headers={"Authorization": "Bearer tok-cmp1"})
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["errors"][0]["detail"]
    assert rows(lite) == before
