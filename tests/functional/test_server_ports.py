"""Servers with NICs through the service: every vnic type end to end, the binding written
with the claim, the profile Nova writes (§4.5), binding failures, multi-segment networks,
the agents' sriov_only, sriov_auto_all, exclude_devices and pci-group, and what deleting
or rescheduling a server does to its ports. The host's agent is played over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from net_helpers import (
    ADMIN_H,
    ALPHA,
    BETA,
    NET_SPEC,
    flat,
    flavor,
    get_port,
    network,
    port,
    register,
    rows,
    run_agent,
    server,
    stale,
    vlan,
)
from svc_helpers import make_settings

from pciplane.api.app import create_app
from pciplane.core.guest import GuestPlan
from pciplane.host import libvirt_schema
from pciplane.host.domain_xml import domain_for_plan, render_domain


@pytest.fixture
def client(db_url: str) -> Any:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC))
    with TestClient(app) as test_client:
        yield test_client
    app.state.services.db.dispose()


def plan_of(server_body: dict[str, Any]) -> GuestPlan:
    return GuestPlan.from_json(server_body["guest_plan"])


def xml_is_valid(plan: GuestPlan) -> str:
    xml = render_domain(domain_for_plan(plan, virt_type="kvm"))
    if libvirt_schema.validator_available():
        libvirt_schema.validate(xml, "domain")
    return xml


VF_PROFILE_KEYS = {"pci_slot", "pci_vendor_info", "physical_network", "pf_mac_address", "vf_num"}


@pytest.mark.parametrize(
    ("vnic", "net", "vif_type", "xml", "profile_keys"),
    [
        pytest.param("direct", "vlan", "hw_veb", '<interface type="hostdev" managed="yes">',
                     VF_PROFILE_KEYS, id="direct"),
        pytest.param("macvtap", "vlan", "hw_veb", '<source dev="ens130f0v0" mode="passthrough"',
                     VF_PROFILE_KEYS, id="macvtap"),
        pytest.param("direct-physical", "flat", "hostdev_physical",
                     '<hostdev mode="subsystem" type="pci" managed="yes">',
                     {"pci_slot", "pci_vendor_info", "physical_network", "device_mac_address"},
                     id="direct-physical"),
        pytest.param("normal", "vlan", "ovs", '<virtualport type="openvswitch">', set(),
                     id="normal"),
    ],
)  # fmt: skip
def test_every_bindable_vnic_type_end_to_end(
    client: TestClient, vnic: str, net: str, vif_type: str, xml: str, profile_keys: set[str]
) -> None:
    register(client, "cmp1")
    flavor(client, "f1", "gpu:1")
    register(client, "cmp2", gpus=1, bus=0x82)  # the GPU is here: the server goes here
    if net == "vlan":
        network_body = vlan(client, "n", "physnet1", 100)
    else:
        network_body = flat(client, "n", "physnet2")
    attrs = {"binding:vnic_type": vnic, "binding:profile": {"trusted": "no"}}
    made = port(client, network_body["id"], name="p1", **attrs)
    placed = server(client, "vm", "f1", [{"port_id": made["id"]}])
    assert (placed["state"], placed["host"]) == ("BUILD", "cmp2")
    bound = get_port(client, made["id"])
    assert bound["binding:vif_type"] == vif_type
    assert bound["binding:host_id"] == "cmp2"
    assert (bound["device_id"], bound["device_owner"]) == (placed["id"], "compute:nova")
    assert set(bound["binding:profile"]) - {"trusted"} == profile_keys
    expected_vlan = {"vlan": "100"} if net == "vlan" else {"vlan": "0"}
    if vif_type != "ovs":
        assert bound["binding:vif_details"] == {"port_filter": False, "connectivity": "l2",
                                                **expected_vlan}  # fmt: skip
        assert bound["binding:profile"]["pci_slot"] in placed["devices"]
    assert bound["status"] == ("ACTIVE" if vif_type == "hostdev_physical" else "DOWN")
    rendered = xml_is_valid(plan_of(placed))
    assert xml in rendered, rendered
    if net == "vlan" and vif_type == "hw_veb":
        assert '<tag id="100" />' in rendered
    assert "<tag" not in rendered or net == "vlan"  # flat ("0") writes no <vlan> (Q16)

    (active,) = run_agent(client, "cmp2")
    assert active["state"] == "ACTIVE"
    assert get_port(client, made["id"])["status"] == "ACTIVE"
    nic = active["nics"][0]
    assert (nic["port_id"], nic["vif_type"], nic["status"]) == (made["id"], vif_type, "ACTIVE")

    client.delete(f"/v1/servers/{placed['id']}", headers=ALPHA)
    run_agent(client, "cmp2")
    after = get_port(client, made["id"])
    assert after["binding:profile"] == {"trusted": "no"}  # the client's key stays, ours go
    assert (after["binding:vif_type"], after["binding:host_id"], after["status"]) == (
        "unbound",
        "",
        "DOWN",
    )
    assert (after["device_id"], after["device_owner"]) == ("", "")


@pytest.mark.parametrize(
    ("vnic", "status", "words"),
    [
        pytest.param("virtio-forwarder", "ERROR",
                     "could not be bound on host cmp1: sriovnicswitch: does not bind vnic type "
                     "virtio-forwarder", id="virtio-forwarder-no-driver"),
        pytest.param("vdpa", "ERROR", "port 'p1' (physnet1): no free device matches",
                     id="vdpa-no-device"),
        pytest.param("remote-managed", "ERROR", "port 'p1' (physnet1): no free device",
                     id="remote-managed-no-device"),
        pytest.param("accelerator-direct", 400, "needs Cyborg", id="accelerator-direct"),
        pytest.param("accelerator-direct-physical", 400, "needs Cyborg", id="accelerator-physical"),
        pytest.param("baremetal", 400, "needs Ironic", id="baremetal"),
        pytest.param("smart-nic", 400, "OVN SmartNIC", id="smart-nic"),
    ],
)  # fmt: skip
def test_the_other_vnic_types_fail_clearly(
    client: TestClient, vnic: str, status: object, words: str
) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    made = port(client, net["id"], name="p1", **{"binding:vnic_type": vnic})
    body = {"name": "vm", "flavor": "f0", "nics": [{"port_id": made["id"]}]}
    answer = client.post("/v1/servers", json=body, headers=ALPHA)
    if status == 400:
        assert answer.status_code == 400 and words in answer.json()["errors"][0]["detail"]
        assert get_port(client, made["id"])["device_id"] == ""
        return
    created = answer.json()
    assert created["state"] == "ERROR" and words in created["reason"], created["reason"]
    assert created["devices"] == []
    after = get_port(client, made["id"])
    assert after["device_id"] == created["id"]  # shown with its server, until it is deleted
    if "could not be bound" in words:
        assert (after["binding:vif_type"], after["binding:host_id"]) == ("binding_failed", "cmp1")


@pytest.mark.parametrize(
    ("agent_network", "port_attrs", "settings", "words"),
    [
        pytest.param({"device_mappings": {"physnet2": ["ens129f1"]}}, {}, {},
                     "the agent maps no device to physical network 'physnet1'",
                     id="unmapped-physnet"),
        pytest.param(None, {"binding:profile": {"capabilities": ["switchdev"]}}, {},
                     "'switchdev' capability is for OVS offload", id="switchdev"),
        pytest.param(None, {"binding:vnic_type": "macvtap"},
                     {"vnic_type_prohibit_list": ["macvtap"]}, "does not bind vnic type macvtap",
                     id="prohibited"),
    ],
)  # fmt: skip
def test_a_port_no_driver_binds_fails_its_server(
    db_url: str,
    agent_network: dict[str, Any] | None,
    port_attrs: dict[str, Any],
    settings: dict[str, Any],
    words: str,
) -> None:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC, **settings))
    with TestClient(app) as client:
        register(client, "cmp1", network=agent_network)
        flavor(client, "f0")
        net = vlan(client, "n", "physnet1", 100)
        attrs = {"binding:vnic_type": "direct", **port_attrs}
        made = port(client, net["id"], name="p1", **attrs)
        created = server(client, "vm", "f0", [{"port_id": made["id"]}])
        assert created["state"] == "ERROR"
        assert "port 'p1'" in created["reason"] and words in created["reason"], created["reason"]
        assert created["devices"] == [] and created["host"] is None
        after = get_port(client, made["id"])
        assert (after["binding:vif_type"], after["binding:host_id"]) == ("binding_failed", "cmp1")
        assert "pci_slot" not in after["binding:profile"]
        hosts = client.get("/v1/hosts", headers=ADMIN_H).json()["hosts"]
        assert sum(p["used"] for h in hosts for p in h["pools"]) == 0
        client.delete(f"/v1/servers/{created['id']}", headers=ALPHA)
        assert get_port(client, made["id"])["binding:vif_type"] == "unbound"
    app.state.services.db.dispose()


def test_multi_segment_network_binds_the_segment_of_the_device(client: TestClient) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    segments = [
        {"provider:network_type": "vxlan", "provider:segmentation_id": 7000},
        {"provider:network_type": "vlan", "provider:physical_network": "physnet9",
         "provider:segmentation_id": 900},
        {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
         "provider:segmentation_id": 101},
    ]  # fmt: skip
    net = network(client, "multi", segments=segments, shared=True)
    created = server(client, "vm", "f0", [{"net_id": net["id"], "vnic_type": "direct"}])
    assert created["state"] == "BUILD", created["reason"]  # Nova would ask physnet9 only
    (nic,) = created["nics"]
    assert (nic["vlan"], nic["physical_network"]) == ("101", "physnet1")
    tunnel = network(client, "overlay", **{"provider:network_type": "vxlan", "shared": True})
    body = {
        "name": "vm2",
        "flavor": "f0",
        "nics": [{"net_id": tunnel["id"], "vnic_type": "direct"}],
    }
    answer = client.post("/v1/servers", json=body, headers=ALPHA)
    assert answer.status_code == 400
    assert "no SR-IOV device can reach network 'overlay'" in answer.json()["errors"][0]["detail"]


def test_net_id_ports_are_created_with_the_default_vnic_type_and_go_with_the_server(
    client: TestClient,
) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    nics = [{"net_id": net["id"]}, {"net_id": net["id"], "vnic_type": "direct"}]
    created = server(client, "vm", "f0", nics)
    assert [n["vnic_type"] for n in created["nics"]] == ["normal", "direct"]
    ports = client.get(f"/v2.0/ports?device_id={created['id']}", headers=ALPHA).json()["ports"]
    assert len(ports) == 2
    run_agent(client, "cmp1")
    client.delete(f"/v1/servers/{created['id']}", headers=ALPHA)
    run_agent(client, "cmp1")
    assert client.get("/v2.0/ports", headers=ALPHA).json()["ports"] == []


def test_a_port_is_in_one_server_and_cannot_be_deleted_while_used(client: TestClient) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    made = port(client, net["id"], **{"binding:vnic_type": "direct"})
    first = server(client, "vm1", "f0", [{"port_id": made["id"]}])
    body = {"name": "vm2", "flavor": "f0", "nics": [{"port_id": made["id"]}]}
    again = client.post("/v1/servers", json=body, headers=ALPHA)
    assert again.status_code == 409 and "in use" in again.json()["errors"][0]["detail"]
    assert len(client.get("/v1/servers", headers=ALPHA).json()["servers"]) == 1
    assert client.delete(f"/v2.0/ports/{made['id']}", headers=ALPHA).status_code == 409
    moved = {"port": {"binding:host_id": "cmp2"}}
    assert client.put(f"/v2.0/ports/{made['id']}", json=moved, headers=ADMIN_H).status_code == 409
    # A client writing the whole profile back keeps what binding wrote (clients §7.6).
    shown = get_port(client, made["id"])["binding:profile"]
    body2 = {"port": {"binding:profile": {**shown, "trusted": "true"}}}
    written = client.put(f"/v2.0/ports/{made['id']}", json=body2, headers=ALPHA)
    assert written.status_code == 200
    assert written.json()["port"]["binding:profile"] == {**shown, "trusted": "true"}
    other = {"name": "vmb", "flavor": "f0", "nics": [{"port_id": made["id"]}]}
    assert client.post("/v1/servers", json=other, headers=BETA).status_code == 404
    del first


def test_a_failed_start_unbinds_and_the_reschedule_binds_on_the_next_host(
    client: TestClient,
) -> None:
    register(client, "cmp1")
    register(client, "cmp2", bus=0x82)
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    made = port(client, net["id"], **{"binding:vnic_type": "direct"})
    created = server(client, "vm", "f0", [{"port_id": made["id"]}])
    first = created["host"]
    (after,) = run_agent(client, first, ok=False, reason="boom")
    second = after["host"]
    assert second not in (None, first)
    bound = get_port(client, made["id"])
    assert (bound["binding:host_id"], bound["binding:vif_type"]) == (second, "hw_veb")
    assert bound["binding:profile"]["pci_slot"] in after["devices"]


def test_sriov_only_hosts_take_only_servers_with_an_sriov_port(client: TestClient) -> None:
    register(client, "cmp1", gpus=1, network={
        "device_mappings": {"physnet1": ["ens129f0"]}, "sriov_only": True})  # fmt: skip
    flavor(client, "g", "gpu:1")
    refused = server(client, "vm1", "g", [])
    assert refused["state"] == "ERROR"
    assert "only servers with an SR-IOV port (sriov_only) (cmp1)" in refused["reason"]
    net = vlan(client, "n", "physnet1", 100)
    placed = server(client, "vm2", "g", [{"net_id": net["id"], "vnic_type": "direct"}])
    assert (placed["state"], placed["host"]) == ("BUILD", "cmp1")
    fit = client.post("/v1/fit", json={"flavor": "g"}, headers=ADMIN_H).json()
    assert "sriov_only" in fit["hosts"][0]["reason"]


def test_auto_all_and_exclude_devices_decide_what_is_assignable(db_url: str) -> None:
    app = create_app(make_settings(db_url, device_spec=[]))  # no device_spec at all
    with TestClient(app) as client:
        answer = register(client, "cmp1", vfs=4, network={
            "device_mappings": {"physnet7": ["ens129f0"]}, "sriov_auto_all": True,
            "exclude_devices": {"ens129f0": ["0000:81:02.0"]}})  # fmt: skip
        pools = answer["host"]["pools"]
        assert [(p["physical_network"], p["total"]) for p in pools] == [("physnet7", 3)]
        listed = [d["address"] for d in answer["host"]["device_list"]]
        assert "0000:81:02.0" not in listed  # kept for the host, as Neutron's agent does
        flavor(client, "f0")
        net = vlan(client, "n", "physnet7", 700)
        used = []
        for i in range(4):
            body = {"name": f"vm{i}", "flavor": "f0",
                    "nics": [{"net_id": net["id"], "vnic_type": "direct"}]}  # fmt: skip
            created = client.post("/v1/servers", json=body, headers=ALPHA).json()
            used += created["devices"]
        assert sorted(used) == ["0000:81:02.1", "0000:81:02.2", "0000:81:02.3"]
        exported = client.get("/v1/export", headers=ADMIN_H).json()
        (host,) = exported["hosts"]
        auto = {"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "154c",
                "physical_network": "physnet7"}  # fmt: skip
        assert host["device_spec"][0] == auto
    app.state.services.db.dispose()


def test_pci_group_confines_a_port_to_its_hosts(client: TestClient) -> None:
    mappings = {"physnet1": ["ens129f0"]}
    register(client, "cmp1", network={"device_mappings": mappings, "sriov_pci_group": "gold"})
    register(client, "cmp2", bus=0x82, network={
        "device_mappings": {"physnet1": ["ens130f0"]}, "sriov_pci_group": "silver"})  # fmt: skip
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    for group, host in (("gold", "cmp1"), ("silver", "cmp2"), ("gold", "cmp1")):
        nic = {"net_id": net["id"], "vnic_type": "direct", "pci_group": group}
        assert server(client, f"vm-{group}", "f0", [nic])["host"] == host
    attrs = {"binding:vnic_type": "direct", "binding:profile": {"pci_group": "silver"}}
    made = port(client, net["id"], name="pg", **attrs)
    assert server(client, "vm-port", "f0", [{"port_id": made["id"]}])["host"] == "cmp2"
    nic = {"net_id": net["id"], "vnic_type": "direct", "pci_group": "bronze"}
    refused = server(client, "vm-bronze", "f0", [nic])
    assert refused["state"] == "ERROR" and "pci_group=bronze" in refused["reason"]


def test_bad_nic_entries_are_refused_and_create_nothing(client: TestClient) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    made = port(client, net["id"])
    cases = [
        ({"net_id": net["id"], "port_id": made["id"]}, 400, "either net-id or port-id"),
        ({}, 400, "either net-id or port-id"),
        ({"net_id": "nope"}, 404, "could not be found"),
        ({"net_id": net["id"], "vnic_type": "turbo"}, 400, "invalid vnic type 'turbo'"),
        ({"port_id": made["id"], "vnic_type": "direct"}, 400, "go with net-id"),
        ({"net_id": net["id"], "pci-group": "g"}, 422, "pci-group"),
        ({"net_id": "../x"}, 422, "net_id"),
    ]
    for nic, status, words in cases:
        body = {"name": "vm", "flavor": "f0", "nics": [nic]}
        answer = client.post("/v1/servers", json=body, headers=ALPHA)
        assert answer.status_code == status, (nic, answer.text)
        assert words in answer.json()["errors"][0]["detail"], (nic, answer.text)
    twice = {"name": "vm", "flavor": "f0", "nics": [{"port_id": made["id"]}] * 2}
    assert client.post("/v1/servers", json=twice, headers=ALPHA).status_code == 400
    assert client.get("/v1/servers?all=true", headers=ALPHA).json()["servers"] == []
    assert len(client.get("/v2.0/ports", headers=ALPHA).json()["ports"]) == 1


def test_hot_plug_requests_are_checked_before_anything_is_written(client: TestClient) -> None:
    register(client, "cmp1")
    flavor(client, "f0")
    net = vlan(client, "n", "physnet1", 100)
    created = server(client, "vm", "f0", [{"net_id": net["id"], "vnic_type": "direct"}])
    spare = port(client, net["id"], **{"binding:vnic_type": "macvtap"})
    path = f"/v1/servers/{created['id']}/ports"
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        (path, {"port_id": spare["id"]}, ALPHA, 409, "ACTIVE servers only"),  # still BUILD
        (path, {"port_id": "a/b"}, ALPHA, 422, "port_id"),
        (path, {"port": spare["id"]}, ALPHA, 422, "port"),
        (path, {"port_id": spare["id"]}, BETA, 404, "does not exist"),
    ]
    for url, body, headers, status, words in cases:
        before = rows(client)
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert words in answer.json()["errors"][0]["detail"]
        assert rows(client) == before
    run_agent(client, "cmp1")  # ACTIVE now
    in_use = created["nics"][0]["port_id"]
    stale(client, "cmp1")
    later = [
        (path, {"port_id": in_use}, 409, "is in use by"),
        (path, {"port_id": spare["id"]}, 409, "the agent of host cmp1 is down"),
    ]
    for url, body, status, words in later:
        before = rows(client)
        answer = client.post(url, json=body, headers=ALPHA)
        assert answer.status_code == status, (body, answer.text)
        assert words in answer.json()["errors"][0]["detail"]
        assert rows(client) == before
    answer = client.delete(f"{path}/{spare['id']}", headers=ALPHA)
    assert answer.status_code == 404 and "is not attached" in answer.text
