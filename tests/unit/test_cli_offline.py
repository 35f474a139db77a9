"""The offline commands as a user runs them: output contract, exit codes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pciplane.cli.main import main
from pciplane.core.device import Status
from pciplane.core.index import FleetIndex
from pciplane.core.snapshot import load_fleet
from pciplane.sim.fleet_varied import generate_varied

GPU = {"vendor_id": "10de", "product_id": "20b5"}
SMALL = {
    "format": "pciplane-fleet/1",
    "device_spec": [GPU, {"vendor_id": "8086", "product_id": "1889", "physical_network": "p1"}],
    "alias": [{"name": "gpu", **GPU, "numa_policy": "required"}],
    "hosts": [
        {"name": "four", "numa_nodes": [{"id": 0}, {"id": 1}], "devices": [
            {"address": f"0000:{b}:00.0", **GPU, "numa_node": n}
            for b, n in (("17", 0), ("65", 0), ("b1", 1), ("e3", 1))]},
        {"name": "none", "devices": []},
        {"name": "used", "devices": [
            {"address": "0000:17:00.0", **GPU, "numa_node": 0, "status": "allocated",
             "owner": "vm1"}]},
    ],
}  # fmt: skip


@pytest.fixture
def fleet(tmp_path: Path) -> str:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(SMALL))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_json_contract(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    code, out, _ = run(capsys, "fit", "--fleet", fleet, "--alias-request", "gpu:2",
                       "--numa-cells", "1", "--json")  # fmt: skip
    doc = json.loads(out)
    assert code == 0
    assert doc["request"] == {"alias": "gpu:2", "ports": [], "numa_cells": [1],
                              "numa_policy": None}  # fmt: skip
    assert doc["fit_count"] == 1
    assert [h["name"] for h in doc["hosts"]] == ["four", "none", "used"]
    assert [h["fits"] for h in doc["hosts"]] == [True, False, False]
    assert doc["hosts"][0]["reason"] == ""
    assert doc["hosts"][2]["reason"] == "gpu: no free device matches {10de:20b5} (1 in use)"


def test_fit_exits_1_when_no_host_fits(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    code, out, _ = run(capsys, "fit", "--fleet", fleet, "--alias-request", "gpu:5")
    assert code == 1
    assert "0 of 3 hosts fit" in out
    assert "gpu: 4 free devices match, 5 needed" in out


def test_fit_many_requests(capsys: pytest.CaptureFixture[str], fleet: str, tmp_path: Path) -> None:
    requests = tmp_path / "r.json"
    requests.write_text(json.dumps([
        {"name": "one", "alias": "gpu:1"},
        {"name": "port", "ports": [{"physical_network": "p1"}]},
        {"name": "numa", "alias": "gpu:3", "numa_cells": [0], "numa_policy": "preferred"},
    ]))  # fmt: skip
    code, out, _ = run(capsys, "fit", "--fleet", fleet, "--requests", str(requests), "--json")
    results = json.loads(out)["results"]
    assert [(r["name"], r["fit_count"]) for r in results] == [("one", 1), ("port", 0), ("numa", 1)]
    assert code == 1  # the port request fits nowhere


def test_fit_explain(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    code, out, _ = run(capsys, "fit", "--fleet", fleet, "--alias-request", "gpu:3",
                       "--numa-cells", "0", "--explain", "four")  # fmt: skip
    assert code == 1
    assert "explain four: does not fit: gpu: 2 free devices on NUMA 0 (numa_policy=required)" in out
    assert "numa" in out.split("explain four")[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--alias-request", "nope:1"], "PCI alias 'nope' is not defined", id="alias"),
        pytest.param(["--alias-request", "gpu:x"], "gpu:x", id="bad-count"),
        pytest.param(["--port", "p1:normal"], "vnic type 'normal' is not one of", id="vnic"),
        pytest.param(["--port", ":direct"], "names no physical network", id="no-physnet"),
        pytest.param(["--numa-cells", "zero"], "NUMA cells 'zero'", id="cells"),
        pytest.param(["--explain", "ghost"], "no host 'ghost'", id="explain-unknown"),
    ],
)
def test_bad_requests_exit_2(capsys: pytest.CaptureFixture[str], fleet: str, argv: list[str],
                             message: str) -> None:  # fmt: skip
    code, _, err = run(capsys, "fit", "--fleet", fleet, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read", id="missing"),
        pytest.param("{", "not valid JSON", id="bad-json"),
        pytest.param("[]", "must be a JSON object", id="not-object"),
    ],
)
def test_bad_fleet_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                content: str | None, message: str) -> None:  # fmt: skip
    path = tmp_path / "f.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(capsys, "fit", "--fleet", str(path), "--alias-request", "gpu:1")
    assert (code, message in err, str(path) in err) == (2, True, True)


def test_bad_requests_file_names_the_entry(capsys: pytest.CaptureFixture[str], fleet: str,
                                           tmp_path: Path) -> None:  # fmt: skip
    requests = tmp_path / "r.json"
    requests.write_text(json.dumps([{"name": "ok"}, {"name": "bad", "numa_cells": ["0"]}]))
    code, _, err = run(capsys, "fit", "--fleet", fleet, "--requests", str(requests))
    assert code == 2 and f"requests {requests} [1]" in err


def test_capacity_places_real_claims(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    code, out, _ = run(capsys, "capacity", "--fleet", fleet, "--alias-request", "gpu:2", "--json")
    doc = json.loads(out)
    assert code == 0
    assert {h["name"]: h["servers"] for h in doc["hosts"]} == {"four": 2, "none": 0, "used": 0}
    assert doc["total"] == 2
    assert doc["runs_out_first"] == {"gpu": 3}


def test_capacity_with_numa_required(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    _code, out, _ = run(capsys, "capacity", "--fleet", fleet, "--alias-request", "gpu:1",
                       "--numa-cells", "1", "--json")  # fmt: skip
    assert json.loads(out)["total"] == 2


def test_lint_reports_every_bad_entry(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([
        {"vendor_id": "10de"},
        {"vendor_id": "XYZ"},
        '{"address": "0000:0a:00.8"}',
        {"devname": "eth0", "address": "0000:0a:00.1"},
        {"devname": "ens1f0", "physical_network": "p1"},
    ]))  # fmt: skip
    alias = tmp_path / "alias.json"
    alias.write_text(json.dumps([{"name": "a", "vendor_id": "10de"}, {"name": "b", "foo": 1}]))
    code, out, _ = run(capsys, "lint", "--device-spec", str(spec), "--alias", str(alias))
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert [e.split(":")[1].strip() for e in errors] == [
        "device_spec entry 1", "device_spec entry 2", "device_spec entry 3",
        "alias entry 0", "alias entry 1",
    ]  # fmt: skip
    assert "warning: device_spec entry" in out and "devname 'ens1f0'" in out


def test_lint_fleet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = dict(SMALL, alias=[{"name": "gpu", **GPU}, {"name": "t4", "vendor_id": "10de",
                                                      "product_id": "1eb8"}])  # fmt: skip
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "lint", "--fleet", str(path), "--json")
    report = json.loads(out)
    assert code == 0
    messages = {(f["where"], f["severity"]) for f in report["findings"]}
    assert ("alias t4", "warning") in messages
    assert ("device_spec entry 1", "warning") in messages  # matches nothing
    assert report["spec_matches"] == {"0": 5}
    pools = {p["pool"]: (p["free"], p["total"]) for p in report["pools"]}
    assert pools == {"10de:20b5 type-PCI NUMA 0": (2, 3), "10de:20b5 type-PCI NUMA 1": (2, 2)}


@pytest.mark.parametrize("flags", [pytest.param([], id="uniform"),
                                   pytest.param(["--varied"], id="varied")])  # fmt: skip
def test_sim_fleet_writes_a_loadable_snapshot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str]
) -> None:
    out = tmp_path / "f.json"
    assert main(["sim", "fleet", "--hosts", "30", "--seed", "4", "--out", str(out), *flags]) == 0
    capsys.readouterr()
    code, text, _ = run(capsys, "lint", "--fleet", str(out))
    assert code == 0 and "0 errors" in text
    doc = json.loads(out.read_text())
    statuses = {d["status"] for h in doc["hosts"] for d in h["devices"]}
    assert {"available", "allocated", "unavailable"} <= statuses


# --- issue 7: the offline doors ---------------------------------------------------------


def test_fit_json_explain_carries_the_stage_table(
    capsys: pytest.CaptureFixture[str], fleet: str
) -> None:
    argv = ["fit", "--fleet", fleet, "--alias-request", "gpu:3", "--numa-cells", "0",
            "--explain", "four"]  # fmt: skip
    _, text, _ = run(capsys, *argv)
    _, out, _ = run(capsys, *argv, "--json")
    explain = json.loads(out)["explain"]
    assert (explain["host"], explain["fits"]) == ("four", False)
    assert explain["reason"] in text
    rows = [line.split() for line in text.split("explain four")[1].splitlines()[2:] if line]
    assert [[s["request"], s["stage"], str(s["before"]), str(s["after"])]
            for s in explain["stages"]] == rows  # fmt: skip


def test_capacity_offers_no_requests_file(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    with pytest.raises(SystemExit):
        main(["capacity", "--help"])
    assert "--requests" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["capacity", "--fleet", fleet, "--requests", fleet])
    assert info.value.code == 2
    assert "unrecognized arguments: --requests" in capsys.readouterr().err


def test_lint_unknown_host_is_an_error(capsys: pytest.CaptureFixture[str], fleet: str) -> None:
    code, out, err = run(capsys, "lint", "--fleet", fleet, "--host", "nosuch")
    assert (code, out) == (2, "")
    assert "--host nosuch: the fleet" in err and "has no host 'nosuch'" in err


def test_lint_fleet_reports_every_malformed_entry_of_every_host(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = dict(SMALL, device_spec=[GPU, {"vendor_id": "XYZ"}])
    doc["hosts"] = [
        dict(SMALL["hosts"][0], device_spec=[{"address": "0000:0a:00.8"}, GPU]),  # type: ignore[arg-type]
        dict(SMALL["hosts"][1], device_spec=[GPU, GPU, {"managed": "maybe"}]),  # type: ignore[arg-type]
        SMALL["hosts"][2],  # type: ignore[index]
    ]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "lint", "--fleet", str(path), "--json")
    assert code == 1
    errors = [f["where"] for f in json.loads(out)["findings"] if f["severity"] == "error"]
    assert errors == ["device_spec entry 1", "host four device_spec entry 0",
                      "host none device_spec entry 2"]  # fmt: skip


def test_lint_numbers_errors_and_warnings_alike(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([
        {"vendor_id": "XYZ"},
        {"devname": "ens1f0"},
        [GPU, {"devname": "ens1f1"}],
    ]))  # fmt: skip
    code, out, _ = run(capsys, "lint", "--device-spec", str(spec), "--json")
    findings = [(f["severity"], f["where"]) for f in json.loads(out)["findings"]]
    assert code == 1
    assert findings == [("error", "device_spec entry 0"), ("warning", "device_spec entry 1"),
                        ("warning", "device_spec entry 2[1]")]  # fmt: skip


def test_absent_devname_is_a_warning_as_in_nova(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = dict(SMALL, device_spec=[GPU, {"devname": "ens9"}], alias=[])
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(capsys, "lint", "--fleet", str(path), "--json")
    severities = {f["severity"] for f in json.loads(out)["findings"]
                  if "devname ens9 is not present" in f["message"]}  # fmt: skip
    assert (code, severities) == (0, {"warning"})


# --- requests as users write them ------------------------------------------------------

TRUST = {
    "format": "pciplane-fleet/1",
    "hosts": [
        {"name": name, "device_spec": [{"vendor_id": "8086", "product_id": "1889",
                                         "physical_network": "p1", **tags}],
         "devices": [
             {"address": "0000:3b:00.0", "vendor_id": "8086", "product_id": "1592",
              "dev_type": "type-PF", "numa_node": 0},
             {"address": "0000:3b:02.0", "vendor_id": "8086", "product_id": "1889",
              "dev_type": "type-VF", "numa_node": 0, "parent_addr": "0000:3b:00.0"}]}
        for name, tags in (("trusted", {"trusted": "true"}), ("plain", {}))
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("port", "fitting"),
    [
        pytest.param({"physical_network": "p1"}, ["trusted", "plain"], id="no-trusted-key"),
        pytest.param({"physical_network": "p1", "trusted": True}, ["trusted"], id="trusted"),
        pytest.param({"physical_network": "p1", "trusted": "yes"}, ["trusted"], id="trusted-word"),
        pytest.param({"physical_network": "p1", "trusted": False}, ["plain"], id="Q6-untrusted"),
        pytest.param({"physical_network": "p1", "numa_affinity_policy": "required"},
                     ["trusted", "plain"], id="port-numa-policy"),
    ],
)  # fmt: skip
def test_requests_file_ports_take_nova_port_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, port: dict[str, object],
    fitting: list[str],
) -> None:  # fmt: skip
    fleet, requests = tmp_path / "f.json", tmp_path / "r.json"
    fleet.write_text(json.dumps(TRUST))
    requests.write_text(json.dumps([{"name": "vm", "ports": [port], "numa_cells": [0]}]))
    _, out, _ = run(capsys, "fit", "--fleet", str(fleet), "--requests", str(requests), "--json")
    result = json.loads(out)["results"][0]
    assert [h["name"] for h in result["hosts"] if h["fits"]] == fitting
    assert result["request"]["ports"][0]["physical_network"] == "p1"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param({"name": "a", "numa_cell": [0]},
                     "[0]: unknown key 'numa_cell' (known: name, alias, ports, numa_cells, "
                     "numa_policy, vcpus, ram, extra_specs); did you mean 'numa_cells'?",
                     id="request-key-typo"),
        pytest.param({"ports": [{"physical_network": "p1", "trust": True}]},
                     "[0] ports[0]: unknown key 'trust'", id="port-key-typo"),
        pytest.param({"ports": [{"physical_network": "p1", "trusted": "maybe"}]},
                     "[0] ports[0]: 'trusted' must be true or false", id="trusted-value"),
        pytest.param({"ports": [{"physical_network": "p1", "numa_affinity_policy": "x"}]},
                     "numa_affinity_policy", id="port-policy-value"),
        pytest.param({"ports": [{"vnic_type": "direct"}]},
                     "'physical_network' must be a non-empty string", id="port-without-physnet"),
        pytest.param({"numa_cells": [True]}, "'numa_cells' must be a list of cell ids",
                     id="bool-cell"),
    ],
)  # fmt: skip
def test_requests_file_keys_are_checked(
    capsys: pytest.CaptureFixture[str], fleet: str, tmp_path: Path,
    request_: dict[str, object], message: str,
) -> None:  # fmt: skip
    requests = tmp_path / "r.json"
    requests.write_text(json.dumps([request_]))
    code, out, err = run(capsys, "fit", "--fleet", fleet, "--requests", str(requests))
    assert (code, out) == (2, "")
    assert f"requests {requests} " in err and message in err


# --- nova.conf beside a snapshot --------------------------------------------------------

NOVA_CONF = """\
[DEFAULT]
# only [pci] matters here
[pci]
passthrough_whitelist = {"vendor_id": "10de",
    "product_id": "20b5"}
alias = {"name": "gpu", "vendor_id": "10de", "product_id": "20b5",
    "numa_policy": "preferred"}
"""


@pytest.fixture
def nova_conf(tmp_path: Path) -> str:
    path = tmp_path / "nova.conf"
    path.write_text(NOVA_CONF)
    return str(path)


def test_fit_what_if_with_nova_conf(
    capsys: pytest.CaptureFixture[str], fleet: str, nova_conf: str
) -> None:
    argv = ["fit", "--fleet", fleet, "--alias-request", "gpu:3", "--numa-cells", "0", "--json"]
    assert json.loads(run(capsys, *argv)[1])["fit_count"] == 0  # the snapshot's: required
    assert json.loads(run(capsys, *argv, "--nova-conf", nova_conf)[1])["fit_count"] == 1


def test_capacity_what_if_with_nova_conf(
    capsys: pytest.CaptureFixture[str], fleet: str, nova_conf: str
) -> None:
    argv = ["capacity", "--fleet", fleet, "--alias-request", "gpu:1", "--numa-cells", "0"]
    assert json.loads(run(capsys, *argv, "--json")[1])["total"] == 2
    assert json.loads(run(capsys, *argv, "--json", "--nova-conf", nova_conf)[1])["total"] == 4


def test_nova_conf_leaves_hosts_own_device_spec(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, nova_conf: str
) -> None:
    doc = dict(SMALL, device_spec=[])
    doc["hosts"] = [dict(SMALL["hosts"][0], device_spec=[]), *SMALL["hosts"][1:]]  # type: ignore[index]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    _, out, _ = run(capsys, "fit", "--fleet", str(path), "--alias-request", "gpu:1",
                    "--nova-conf", nova_conf, "--json")  # fmt: skip
    # "four" allows nothing of its own; "used" takes the nova.conf's list, but its GPU is used.
    assert json.loads(out)["fit_count"] == 0


def test_bad_nova_conf_names_itself(capsys: pytest.CaptureFixture[str], fleet: str,
                                    tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "nova.conf"
    path.write_text('[pci]\nalias = {"name": "gpu"}\nalias = {"name": \n')
    code, _, err = run(capsys, "fit", "--fleet", fleet, "--alias-request", "gpu:1",
                       "--nova-conf", str(path))  # fmt: skip
    assert code == 2
    assert f"nova.conf file {path}: [pci] alias value 1: not valid JSON" in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--nova-conf", "{conf}"], id="nova-conf"),
        pytest.param(["--device-spec", "{conf}", "--alias", "{conf}"], id="both-from-nova-conf"),
        pytest.param(["--device-spec", "{spec}", "--alias", "{alias}"], id="json"),
    ],
)
def test_lint_reads_nova_conf_as_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, nova_conf: str, argv: list[str]
) -> None:
    spec, alias = tmp_path / "spec.json", tmp_path / "alias.json"
    spec.write_text(json.dumps([GPU]))
    alias.write_text(json.dumps([{"name": "gpu", **GPU, "numa_policy": "preferred"}]))
    files = {"conf": nova_conf, "spec": str(spec), "alias": str(alias)}
    fleet = tmp_path / "f.json"
    fleet.write_text(json.dumps(dict(SMALL, device_spec=[], alias=[])))
    code, out, _ = run(capsys, "lint", "--fleet", str(fleet), "--json",
                       *[a.format(**files) for a in argv])  # fmt: skip
    report = json.loads(out)
    assert (code, report["spec_matches"]) == (0, {"0": 5})


def test_lint_nova_conf_reports_every_malformed_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(
        "[pci]\n"
        'device_spec = {"vendor_id": "10de" "product_id": "20b5"}\n'
        'device_spec = {"vendor_id": "8086"}\n'
        "device_spec = 42\n"
        'alias = {"name": "a",\n'
        'alias = [{"name": "b", "vendor_id": "10de", "product_id": "20b5"}]\n'
    )
    code, out, _ = run(capsys, "lint", "--nova-conf", str(conf), "--json")
    errors = [f["where"] for f in json.loads(out)["findings"] if f["severity"] == "error"]
    assert code == 1
    assert errors == ["device_spec entry 0", "device_spec entry 2", "alias entry 0",
                      "alias entry 1"]  # fmt: skip


def test_a_varied_fleet_has_hosts_in_their_own_states() -> None:
    fleet = load_fleet(generate_varied(60, seed=2))
    index = FleetIndex.build(fleet)
    used = [h for h in fleet.hosts if any(d.status is not Status.AVAILABLE for d in h.devices)]
    assert index.distinct_states() >= 55
    assert 0.4 <= len(used) / len(fleet.hosts) <= 0.8
    assert any(h.device_spec is not None for h in fleet.hosts)
