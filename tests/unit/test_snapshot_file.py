"""Reading a snapshot file host by host gives what decoding it whole gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pciplane.cli.snapshot_stream import read_fleet_stream
from pciplane.core.errors import SnapshotError
from pciplane.core.snapshot import dump_fleet, load_fleet
from pciplane.sim.fleet_varied import generate_varied

VF = {"address": "0000:3b:02.0", "vendor_id": "8086", "product_id": "1889",
      "dev_type": "type-VF", "parent_addr": "0000:3b:00.0", "numa_node": 0}  # fmt: skip
PF = {"address": "0000:3b:00.0", "vendor_id": "8086", "product_id": "1592",
      "dev_type": "type-PF", "numa_node": 0, "devname": "en}s{1"}  # fmt: skip
SPEC = [{"vendor_id": "8086", "product_id": "1889", "physical_network": "physnet1"}]
HOSTS = [
    {"name": "a", "numa_nodes": [{"id": 0, "socket": 0}], "devices": [PF, VF]},
    {"name": "b", "devices": [PF, {**VF, "status": "allocated", "owner": "x"}], "rack": "r2"},
    {"name": "c", "device_spec": SPEC, "devices": []},
]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fleet.json"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(json.dumps({"device_spec": SPEC, "hosts": HOSTS}), id="plain"),
        pytest.param(json.dumps({"hosts": HOSTS, "device_spec": SPEC, "alias": []}, indent=2),
                     id="indented-hosts-first"),
        pytest.param(json.dumps({"hosts": [], "device_spec": SPEC}) [:-1]
                     + ', "hosts": ' + json.dumps(HOSTS) + "}", id="hosts-twice-last-wins"),
        pytest.param(" \n" + json.dumps({"device_spec": SPEC, "hosts": HOSTS},
                                        separators=(",", ":")) + "\n ", id="compact"),
        pytest.param(json.dumps({"device_spec": SPEC, "hosts": HOSTS})
                     .replace('"address"', '"capabilities": ["a}b"], "address"'),
                     id="nested-list-and-brace-in-string"),
    ],
)  # fmt: skip
def test_streamed_equals_decoded_whole(tmp_path: Path, text: str) -> None:
    assert read_fleet_stream(write(tmp_path, text)) == load_fleet(json.loads(text))


def test_a_generated_fleet_round_trips(tmp_path: Path) -> None:
    doc = generate_varied(40, seed=5)
    fleet = read_fleet_stream(write(tmp_path, json.dumps(doc, separators=(",", ":"))))
    assert dump_fleet(fleet) == doc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"hosts": [{"name": "a"},]}', "not valid JSON", id="trailing-comma"),
        pytest.param('{"hosts": [}', "not valid JSON", id="broken-array"),
        pytest.param('{"hosts": []} []', "not valid JSON: Extra data", id="extra-data"),
        pytest.param("{1: 2}", "not valid JSON", id="number-key"),
        pytest.param("[]", "must be a JSON object", id="not-an-object"),
        pytest.param('{"hosts": {}}', "expected a list", id="hosts-object"),
        pytest.param('{"hosts": [{"name": "a", "devices": [{"address": 1}]}]}',
                     "address", id="bad-device"),
    ],
)  # fmt: skip
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        read_fleet_stream(write(tmp_path, text))
