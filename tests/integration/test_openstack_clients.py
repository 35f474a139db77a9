"""The real ``openstack`` CLI and openstacksdk against a live ``pciplane serve``: the story of
issue 11, a GPU server with SR-IOV ports, in Keystone mode and without Keystone.

An operator creates a flavor with a GPU alias, a VLAN and a flat provider network; a user
creates ports with vnic types ``direct``, ``macvtap`` (with a binding profile) and
``direct-physical``, boots a server with two of them, sees it ACTIVE with its ports bound,
hot plugs the third and removes it again, deletes the server and the ports. The server
lands on ``hp1``, the in-memory hypervisor that can hot plug (os_stack.py); the refusals,
``test:///`` refusing a hot plug among them, are in test_openstack_refusals.py.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openstack import exceptions as sdk_exceptions
from os_stack import HOST, HOTPLUG, IMAGE, Stack, start_stack

pytestmark = [
    pytest.mark.integration,
    # openstacksdk and keystoneauth warn about their own deprecations.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("openstack"))


def _free(stack: Stack, host: str) -> int:
    pools = stack.v1("GET", f"/v1/hosts/{host}").json()["pools"]
    return sum(p["free"] for p in pools)


def _vf_profile(port: dict[str, Any]) -> set[str]:
    return set(port["binding_profile"]) - {"trusted"}


#: (label, openrc flags of the operator, of the user who boots, the VLAN of the network)
MODES = [
    pytest.param("ks", ("--user", "admin"), ("--user", "alice"), 100, id="keystone"),
    pytest.param("noauth", ("--auth", "none"), ("--auth", "none"), 101, id="no-keystone"),
]


@pytest.mark.parametrize(("label", "operator", "user", "vlan"), MODES)
def test_the_cli_boots_a_gpu_server_with_sriov_ports_and_tears_it_down(
    stack: Stack, label: str, operator: tuple[str, ...], user: tuple[str, ...], vlan: int
) -> None:
    admin, me = stack.openrc(*operator), stack.openrc(*user)

    def cli(rc: dict[str, str], *args: str) -> Any:
        return stack.openstack_json(rc, *args)

    def ok(rc: dict[str, str], *args: str) -> None:
        done = stack.openstack(rc, *args)
        assert done.returncode == 0, done.stderr

    flavor, net1, net2 = f"gpu.{label}", f"vlan-{label}", f"flat-{label}"
    made = cli(admin, "flavor", "create", "--ram", "1024", "--disk", "1", "--vcpus", "2", flavor)
    assert made["name"] == flavor and made["os-flavor-access:is_public"] is True
    ok(admin, "flavor", "set", "--property", "pci_passthrough:alias=small_GPU:1",
       "--property", "quota:cpu_shares=10", flavor)  # fmt: skip
    ok(admin, "flavor", "unset", "--property", "quota:cpu_shares", flavor)
    assert cli(admin, "flavor", "show", flavor)["properties"] == {
        "pci_passthrough:alias": "small_GPU:1"
    }
    shown = cli(admin, "network", "create", "--provider-network-type", "vlan",
                "--provider-physical-network", "physnet1", "--provider-segment", str(vlan),
                "--share", net1)  # fmt: skip
    assert (shown["provider:network_type"], shown["provider:segmentation_id"]) == ("vlan", vlan)
    shown = cli(admin, "network", "create", "--provider-network-type", "flat",
                "--provider-physical-network", "physnet2", "--share", net2)  # fmt: skip
    assert (shown["provider:network_type"], shown["provider:physical_network"]) == (
        "flat", "physnet2")  # fmt: skip

    p_direct, p_macvtap, p_pf = (f"{label}-direct", f"{label}-macvtap", f"{label}-pf")
    port = cli(me, "port", "create", "--network", net1, "--vnic-type", "direct", p_direct)
    assert (port["binding_vnic_type"], port["binding_vif_type"], port["status"]) == (
        "direct", "unbound", "DOWN")  # fmt: skip
    port = cli(me, "port", "create", "--network", net1, "--vnic-type", "macvtap",
               "--binding-profile", "trusted=true", p_macvtap)  # fmt: skip
    assert (port["binding_vnic_type"], port["binding_profile"]) == ("macvtap", {"trusted": "true"})
    port = cli(me, "port", "create", "--network", net2, "--vnic-type", "direct-physical", p_pf)
    assert port["binding_vnic_type"] == "direct-physical"
    free = _free(stack, HOTPLUG)

    name = f"vm-{label}"
    server = cli(me, "server", "create", "--flavor", flavor, "--image", "cirros",
                 "--port", p_direct, "--port", p_pf, "--wait", name)  # fmt: skip
    assert server["status"] == "ACTIVE"
    shown = cli(me, "server", "show", name)
    assert shown["image"] == f"cirros ({IMAGE})"
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("ACTIVE", 1)
    assert shown["addresses"] == {net1: [], net2: []}
    assert shown["flavor"]["extra_specs"] == {"pci_passthrough:alias": "small_GPU:1"}
    direct = cli(me, "port", "show", p_direct)
    assert (direct["binding_host_id"], direct["binding_vif_type"], direct["status"]) == (
        HOTPLUG, "hw_veb", "ACTIVE")  # fmt: skip
    assert direct["binding_vif_details"] == {"port_filter": False, "connectivity": "l2",
                                             "vlan": str(vlan)}  # fmt: skip
    assert _vf_profile(direct) == {"pci_slot", "pci_vendor_info", "physical_network",
                                   "pf_mac_address", "vf_num"}  # fmt: skip
    assert (direct["device_id"], direct["device_owner"]) == (server["id"], "compute:nova")
    pf = cli(me, "port", "show", p_pf)
    assert (pf["binding_vif_type"], pf["binding_vif_details"]["vlan"], pf["status"]) == (
        "hostdev_physical", "0", "ACTIVE")  # fmt: skip
    v1 = stack.v1("GET", f"/v1/servers/{server['id']}").json()
    assert (v1["host"], len(v1["devices"])) == (HOTPLUG, 3)  # the T4, the VF, the PF
    assert direct["binding_profile"]["pci_slot"] in v1["devices"]
    assert _free(stack, HOTPLUG) == free - 3

    ok(me, "server", "add", "port", name, p_macvtap)
    plugged = cli(me, "port", "show", p_macvtap)
    assert (plugged["binding_host_id"], plugged["binding_vif_type"], plugged["status"]) == (
        HOTPLUG, "hw_veb", "ACTIVE")  # fmt: skip
    assert plugged["binding_profile"]["trusted"] == "true"
    assert plugged["binding_profile"]["pci_slot"] in stack.v1(
        "GET", f"/v1/servers/{server['id']}").json()["devices"]  # fmt: skip
    listed = cli(me, "port", "list", "--server", name)
    assert {p["Name"] for p in listed} == {p_direct, p_pf, p_macvtap}
    ok(me, "server", "remove", "port", name, p_macvtap)
    unplugged = cli(me, "port", "show", p_macvtap)
    assert (unplugged["binding_vif_type"], unplugged["status"], unplugged["device_id"]) == (
        "unbound", "DOWN", "")  # fmt: skip
    assert unplugged["binding_profile"] == {"trusted": "true"}
    assert _free(stack, HOTPLUG) == free - 3

    # Stop, start and reboot through Nova's server actions; the devices stay claimed.
    def settled(status: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            shown = cli(me, "server", "show", name)
            if shown["status"] == status and shown["OS-EXT-STS:task_state"] is None:
                return shown
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)

    ok(me, "server", "stop", name)
    assert settled("SHUTOFF")["OS-EXT-STS:power_state"] == 4
    assert _free(stack, HOTPLUG) == free - 3
    refused = stack.openstack(me, "server", "reboot", "--soft", name)
    assert refused.returncode == 1 and "is SHUTOFF: cannot reboot it" in refused.stderr
    ok(me, "server", "start", name)
    assert settled("ACTIVE")["OS-EXT-STS:power_state"] == 1
    ok(me, "server", "reboot", "--hard", "--wait", name)
    assert settled("ACTIVE")["OS-EXT-STS:vm_state"] == "active"
    assert cli(me, "port", "show", p_direct)["status"] == "ACTIVE"
    assert _free(stack, HOTPLUG) == free - 3

    hypervisors = cli(admin, "hypervisor", "list")
    assert sorted((h["Hypervisor Hostname"], h["State"]) for h in hypervisors) == [
        (HOST, "up"), (HOTPLUG, "up")]  # fmt: skip
    assert cli(admin, "hypervisor", "show", HOTPLUG)["running_vms"] == 1

    ok(me, "server", "delete", "--wait", name)
    gone = stack.openstack(me, "server", "show", name)
    assert gone.returncode == 1 and f"No Server found for {name}" in gone.stderr
    assert stack.v1("GET", f"/v1/servers/{server['id']}").json()["state"] == "DELETED"
    assert _free(stack, HOTPLUG) == free
    left = cli(me, "port", "show", p_direct)
    assert (left["binding_vif_type"], left["binding_host_id"], left["device_id"]) == (
        "unbound", "", "")  # fmt: skip
    ok(me, "port", "delete", p_direct, p_macvtap, p_pf)
    gone = stack.openstack(me, "port", "show", p_direct)
    assert gone.returncode == 1 and f"No Port found for {p_direct}" in gone.stderr
    ok(admin, "network", "delete", net1, net2)
    ok(admin, "flavor", "delete", flavor)


@pytest.mark.parametrize(("label", "operator", "user", "vlan"), MODES)
def test_the_cli_lists_and_shows_images_as_glance_does(
    stack: Stack, label: str, operator: tuple[str, ...], user: tuple[str, ...], vlan: int
) -> None:
    me = stack.openrc(*user)
    listed = stack.openstack_json(me, "image", "list")
    assert listed == [{"ID": IMAGE, "Name": "cirros", "Status": "active"}]  # type: ignore[comparison-overlap]
    shown = stack.openstack_json(me, "image", "show", "cirros")
    file = stack.workdir / "cirros.qcow2"
    assert (shown["id"], shown["disk_format"], shown["container_format"], shown["status"]) == (
        IMAGE, "qcow2", "bare", "active")  # fmt: skip
    assert (shown["size"], shown["visibility"]) == (file.stat().st_size, "public")
    assert shown["checksum"] == hashlib.md5(file.read_bytes()).hexdigest()
    assert hashlib.sha256(file.read_bytes()).hexdigest() in str(shown), shown
    gone = stack.openstack(me, "image", "show", "nope")
    assert gone.returncode == 1 and "No Image found for nope" in gone.stderr


@pytest.mark.parametrize(
    ("mode", "vlan"), [pytest.param("password", 102, id="keystone"),
                       pytest.param("admin_token", 103, id="admin-token")],
)  # fmt: skip
def test_openstacksdk_boots_a_gpu_server_with_sriov_ports_and_tears_it_down(
    stack: Stack, mode: str, vlan: int
) -> None:
    operator = stack.connect("admin_token")
    flavor = operator.compute.create_flavor(name=f"sdk.{mode}", ram=512, vcpus=1, disk=0)
    operator.compute.create_flavor_extra_specs(flavor, {"pci_passthrough:alias": "small_GPU:1"})
    got = operator.compute.get_flavor(flavor.id, get_extra_specs=True)
    assert got.extra_specs == {"pci_passthrough:alias": "small_GPU:1"}
    net1 = operator.network.create_network(
        name=f"sdk-vlan-{mode}", provider_network_type="vlan", is_shared=True,
        provider_physical_network="physnet1", provider_segmentation_id=vlan,
    )  # fmt: skip
    net2 = operator.network.create_network(
        name=f"sdk-flat-{mode}", provider_network_type="flat", is_shared=True,
        provider_physical_network="physnet2",
    )  # fmt: skip
    assert (net1.provider_segmentation_id, net2.provider_network_type) == (vlan, "flat")

    conn = stack.connect(mode)
    direct = conn.network.create_port(network_id=net1.id, name="d", binding_vnic_type="direct")
    macvtap = conn.network.create_port(
        network_id=net1.id, name="m", binding_vnic_type="macvtap", binding_profile={"trusted": True}
    )
    pf = conn.network.create_port(network_id=net2.id, name="p", binding_vnic_type="direct-physical")
    image = conn.image.find_image("cirros")
    assert (image.id, image.status, image.hash_algo) == (IMAGE, "active", "sha256")
    server = conn.compute.create_server(
        name=f"sdk-{mode}", flavor_id=flavor.id, image_id=image.id,
        networks=[{"port": direct.id}, {"port": pf.id}],
    )  # fmt: skip
    server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.2, wait=60)
    assert server.flavor.original_name == f"sdk.{mode}"
    assert server.addresses == {net1.name: [], net2.name: []}
    bound = conn.network.get_port(direct.id)
    assert (bound.binding_host_id, bound.binding_vif_type, bound.status) == (
        HOTPLUG, "hw_veb", "ACTIVE")  # fmt: skip
    assert bound.binding_vif_details["vlan"] == str(vlan)
    assert conn.network.get_port(pf.id).binding_vif_type == "hostdev_physical"

    attached = conn.compute.create_server_interface(server, port_id=macvtap.id)
    assert attached.port_id == macvtap.id
    plugged = conn.network.get_port(macvtap.id)
    assert (plugged.binding_vif_type, plugged.status) == ("hw_veb", "ACTIVE")
    assert plugged.binding_profile["trusted"] is True and "pci_slot" in plugged.binding_profile
    interfaces = {i.port_id: i.net_id for i in conn.compute.server_interfaces(server)}
    assert interfaces == {direct.id: net1.id, pf.id: net2.id, macvtap.id: net1.id}
    conn.compute.delete_server_interface(macvtap.id, server=server)
    assert conn.network.get_port(macvtap.id).binding_vif_type == "unbound"
    assert [i.port_id for i in conn.compute.server_interfaces(server)] != []

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.2, wait=60)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    for made in (direct, macvtap, pf):
        assert conn.network.get_port(made.id).binding_vif_type == "unbound"
        conn.network.delete_port(made)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.network.get_port(direct.id)
    operator.network.delete_network(net1)
    operator.network.delete_network(net2)
    operator.compute.delete_flavor(flavor)
