"""``pciplane network``, ``port``, ``server --nic`` and ``network agent`` against a real
service on a real port, in the openstack CLI's flag names, ``--json`` everywhere."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from net_helpers import NET_SPEC, register
from svc_helpers import ADMIN, make_settings

from pciplane.api.app import create_app
from pciplane.cli.main import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(db_url: str) -> Iterator[tuple[str, Any]]:
    app = create_app(make_settings(db_url, device_spec=NET_SPEC))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    with TestClient(app) as client:
        register(client, "cmp1")
        yield f"http://127.0.0.1:{port}", client
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


Run = Any


@pytest.fixture
def run(
    live: tuple[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    monkeypatch.setenv("PCIPLANE_API", live[0])

    def call(*argv: str, token: str = ADMIN) -> tuple[int, Any, str]:
        status = main([*argv, "--token", token])
        out, err = capsys.readouterr()
        try:
            parsed: Any = json.loads(out) if out.strip().startswith(("{", "[")) else out
        except json.JSONDecodeError:
            parsed = out
        return status, parsed, err

    return call


def test_network_port_server_story(run: Run, live: tuple[str, Any]) -> None:
    status, net, _ = run("network", "create", "net1", "--provider-network-type", "vlan",
                         "--provider-physical-network", "physnet1", "--provider-segment", "100",
                         "--share", "--json")  # fmt: skip
    assert status == 0 and net["provider:segmentation_id"] == 100
    status, out, _ = run("network", "show", "net1")
    assert "provider:physical_network  physnet1" in out
    status, made, _ = run("port", "create", "p1", "--network", "net1", "--vnic-type", "direct",
                          "--binding-profile", "trusted=false",
                          "--binding-profile", '{"pci_group": null}', "--numa-policy-preferred",
                          "--json", token="tok-alpha")  # fmt: skip
    assert status == 0, made
    assert made["binding:profile"] == {"trusted": "false", "pci_group": None}
    assert (made["binding:vnic_type"], made["numa_affinity_policy"]) == ("direct", "preferred")
    run("flavor", "create", "f0", "--vcpus", "1", "--ram", "256")
    status, server, _ = run("server", "create", "vm1", "--flavor", "f0", "--nic", "port-id=p1",
                            "--nic", "net-id=net1,vnic-type=macvtap", "--json",
                            token="tok-alpha")  # fmt: skip
    assert status == 0 and server["state"] == "BUILD", server
    assert [n["vnic_type"] for n in server["nics"]] == ["direct", "macvtap"]
    status, out, _ = run("server", "show", "vm1", token="tok-alpha")
    assert "port p1 (" in out and " direct device 0000:81:02." in out
    assert "vlan 100 hw_veb on cmp1 DOWN" in out
    status, shown, _ = run("port", "show", "p1", "--json", token="tok-alpha")
    assert shown["binding:vif_details"] == {"port_filter": False, "connectivity": "l2",
                                            "vlan": "100"}  # fmt: skip
    slot = shown["binding:profile"]["pci_slot"]
    status, changed, _ = run("port", "set", "p1", "--binding-profile", "note=x", "--json",
                             token="tok-alpha")  # fmt: skip
    assert status == 0, changed
    assert changed["binding:profile"]["pci_slot"] == slot  # written back, kept (clients §7.6)
    assert changed["binding:profile"]["note"] == "x"
    status, unset, _ = run("port", "unset", "p1", "--binding-profile", "note", "--json",
                           token="tok-alpha")  # fmt: skip
    assert "note" not in unset["binding:profile"] and unset["binding:profile"]["pci_slot"] == slot
    status, _, err = run("port", "delete", "p1", token="tok-alpha")
    assert status == 2 and "is in use by server" in err
    status, listed, _ = run("port", "list", "--server", "vm1", "--json", token="tok-alpha")
    assert len(listed) == 2
    status, agents, _ = run("network", "agent", "list", "--json")
    assert agents[0]["configurations"]["device_mappings"] == {"physnet1": ["ens129f0"],
                                                              "physnet2": ["ens129f1"]}  # fmt: skip
    status, out, _ = run("network", "agent", "list")
    assert "cmp1  NIC Switch agent  yes" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        pytest.param(["server", "create", "vm", "--flavor", "f", "--nic", "net-id=a,port-id=b"],
                     "give net-id or port-id, not both", id="nic-both"),
        pytest.param(["server", "create", "vm", "--flavor", "f", "--nic", "net=a"],
                     "KEY one of net-id", id="nic-key"),
        pytest.param(["port", "create", "p", "--network", "n", "--binding-profile", "trusted"],
                     "is not KEY=VALUE or a JSON object", id="profile"),
        pytest.param(["port", "create", "p", "--network", "n", "--vnic-type", "hostdev"],
                     "invalid choice: 'hostdev'", id="vnic"),
        pytest.param(["network", "create", "n", "--segment", "network_type=vlan,vlan=3"],
                     "KEY one of network_type", id="segment"),
    ],
)  # fmt: skip
def test_bad_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--api", "http://127.0.0.1:9"])  # refused before any request
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_service_refusals_are_one_line_errors(run: Run) -> None:
    status, _, err = run("network", "create", "bad", "--provider-network-type", "vlan",
                         "--provider-physical-network", "physnet1",
                         "--provider-segment", "5000")  # fmt: skip
    assert status == 2 and "segmentation_id: 5000 is not a vlan id" in err
    status, _, err = run("port", "show", "nope")
    assert status == 2 and "no port with a name or id of 'nope'" in err
    status, _, err = run("network", "create", "mine", "--provider-network-type", "flat",
                         "--provider-physical-network", "p", token="tok-alpha")  # fmt: skip
    assert status == 2 and "admin" in err
