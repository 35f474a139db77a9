"""The fleet snapshot (pciplane-fleet/1): both entry forms, errors that name where."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pciplane.core.errors import SnapshotError
from pciplane.core.snapshot import dump_fleet, load_fleet
from pciplane.sim.fleet import generate

PF = {
    "address": "0000:3B:00.0",
    "vendor_id": "8086",
    "product_id": "158B",
    "dev_type": "type-PF",
    "numa_node": 0,
    "devname": "ens1f0",
    "status": "available",
}
VF = {"address": "0000:3b:02.0", "vendor_id": "8086", "product_id": "154c",
      "dev_type": "type-VF", "numa_node": 0, "parent_addr": "0000:3b:00.0",
      "parent_ifname": "ens1f0", "status": "available"}  # fmt: skip


def doc(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "format": "pciplane-fleet/1",
        "device_spec": [{"vendor_id": "8086", "product_id": "154c"}],
        "alias": ['{"name": "nic", "vendor_id": "8086", "product_id": "154c"}'],
        "hosts": [{"name": "cmp1", "numa_nodes": [{"id": 0, "socket": 0}], "devices": [PF, VF]}],
    }
    base.update(overrides)
    return base


def test_loads_and_normalises() -> None:
    fleet = load_fleet(doc())
    (host,) = fleet.hosts
    pf, vf = host.devices
    assert (str(pf.address), pf.product_id) == ("0000:3b:00.0", "158b")
    assert vf.parent_addr == pf.address
    assert set(fleet.aliases) == {"nic"}


def test_entries_as_strings_objects_and_lists_mean_the_same() -> None:
    entry = {"vendor_id": "8086", "product_id": "154c", "physical_network": "p1"}
    forms = [[entry], [json.dumps(entry)], [json.dumps([entry])]]
    parsed = [load_fleet(doc(device_spec=f)).device_spec for f in forms]
    assert [[(s.vendor_id, s.product_id, s.tags) for s in p] for p in parsed] == [
        [("8086", "154c", (("physical_network", "p1"),))]
    ] * 3


def test_host_device_spec_replaces_the_default() -> None:
    host = {"name": "cmp1", "device_spec": [{"vendor_id": "10de"}], "devices": []}
    fleet = load_fleet(doc(hosts=[host]))
    assert [s.vendor_id for s in fleet.specs_for(fleet.hosts[0])] == ["10de"]


def test_unknown_keys_are_ignored() -> None:
    fleet = load_fleet(doc(future=1, hosts=[{"name": "a", "rack": "r1", "devices": [
        {**VF, "parent_addr": None, "dev_type": "type-PCI", "colour": "blue"}]}]))  # fmt: skip
    assert fleet.hosts[0].devices[0].vendor_id == "8086"


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        pytest.param([{"name": "h", "devices": [{**VF, "numa_node": "0"}]}],
                     "host 'h' device 0000:3b:02.0 key 'numa_node'", id="numa-string"),
        pytest.param([{"name": "h", "devices": [{**VF, "vendor_id": "80861"}]}],
                     "host 'h' device 0000:3b:02.0 key 'vendor_id'", id="vendor-5-digits"),
        pytest.param([{"name": "h", "devices": [{**VF, "address": "3b:02.0"}]}],
                     "host 'h' device 3b:02.0 key 'address'", id="short-address"),
        pytest.param([{"name": "h", "devices": [{**VF, "status": "busy"}]}],
                     "key 'status': 'busy' is not one of", id="bad-status"),
        pytest.param([{"name": "h", "devices": [{**VF, "dev_type": "GPU"}]}],
                     "key 'dev_type'", id="bad-dev-type"),
        pytest.param([{"name": "h", "devices": [{**VF, "parent_addr": 7}]}],
                     "key 'parent_addr'", id="parent-number"),
        pytest.param([{"name": "h", "devices": [VF, VF]}], "listed twice", id="duplicate-device"),
        pytest.param([{"name": "h"}, {"name": "h"}], "host 'h' is listed twice", id="dup-host"),
        pytest.param([{"devices": []}], "hosts[0] has no 'name'", id="no-name"),
        pytest.param([{"name": "h", "numa_nodes": [{"socket": 0}]}], "'id' is required",
                     id="numa-without-id"),
        pytest.param([{"name": "h", "device_spec": [{"vendor_id": 8086}]}],
                     "host 'h': invalid [pci] device_spec", id="host-spec"),
    ],
)  # fmt: skip
def test_malformed_entries_name_host_device_and_key(hosts: object, message: str) -> None:
    with pytest.raises(SnapshotError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_fleet(doc(hosts=hosts), source="f.json")


@pytest.mark.parametrize(
    "document",
    [
        pytest.param([], id="list"),
        pytest.param({"format": "pciplane-fleet/2"}, id="format"),
        pytest.param({"hosts": {}}, id="hosts-object"),
        pytest.param({"alias": ["{not json"]}, id="alias-json"),
    ],
)
def test_malformed_documents(document: object) -> None:
    with pytest.raises(SnapshotError):
        load_fleet(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=10,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "devices", "numa_nodes", "device_spec"]),
                       json_values))  # fmt: skip
def test_any_host_json_gives_a_fleet_or_a_snapshot_error(host: dict[str, object]) -> None:
    with contextlib.suppress(SnapshotError):
        load_fleet(doc(hosts=[host]))


def test_round_trip_of_a_generated_fleet() -> None:
    first = generate(12, seed=3)
    again = dump_fleet(load_fleet(json.loads(json.dumps(first))))
    assert again == first


def test_generation_is_deterministic() -> None:
    assert generate(5, seed=9) == generate(5, seed=9)
    assert generate(5, seed=9) != generate(5, seed=10)


@pytest.mark.parametrize(
    "numa",
    [pytest.param(True, id="true"), pytest.param(1.0, id="float")],
)
def test_a_malformed_device_does_not_pass_for_an_equal_looking_one(numa: object) -> None:
    good = {"address": "0000:3b:00.0", "vendor_id": "8086", "product_id": "1592", "numa_node": 1}
    bad = {**good, "numa_node": numa}
    hosts = [{"name": "a", "devices": [good]}, {"name": "b", "devices": [bad]}]
    with pytest.raises(SnapshotError, match="numa_node"):
        load_fleet(doc(hosts=hosts))
