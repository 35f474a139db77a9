"""The demo's networking story: Neutron networks and ports, a server with an SR-IOV port and
a GPU, a ``direct-physical`` port on a flat network, and NIC hot plug.

Every step runs the real ``pciplane`` commands in this process against the demo's API
(their output is what an operator would see): ``network create`` with the provider
flags, ``port create --vnic-type``, ``server create --nic port-id=...``, ``server show``
and ``port show`` (the VF, its VLAN, the binding), ``server add port``. Hot plug happens
on the host whose agent runs the in-memory hypervisor (libvirt's ``test:///`` driver
cannot hot plug; the demo shows its refusal too, with nothing changed).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable

from pciplane.core.errors import PciplaneError

#: The hot-plug host's agent: its PFs on physnet3, every VF assignable without a
#: device_spec, the first VF of ens1f0 kept for the host, and only SR-IOV servers.
HOTPLUG_HOST = "hotplug-1"
HOTPLUG_NETWORK = (
    "--physical-device-mappings", "physnet3:ens1f0,physnet3:ens1f1",
    "--exclude-devices", "ens1f0:0000:10:02.0",
    "--sriov-auto-all", "--sriov-only",
)  # fmt: skip

Say = Callable[[str], None]
Step = Callable[[int, str], None]


class Cli:
    """Runs ``pciplane`` commands in this process, with the demo's URL and a token."""

    def __init__(self, url: str, admin: str, project: str, say: Say) -> None:
        self.url = url
        self.tokens = {"admin": admin, "demo": project}
        self.say = say

    def run(self, *argv: str, who: str = "admin", show: bool = True) -> str:
        from pciplane.cli.main import main as cli_main

        shown = "pciplane " + " ".join(a if " " not in a else repr(a) for a in argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli_main([*argv, "--api", self.url, "--token", self.tokens[who]])
            except SystemExit as exc:  # a usage error: its message is in err
                status = exc.code if isinstance(exc.code, int) else 2
        if show:
            self.say(f"    $ {shown}")
            for line in (out.getvalue() + err.getvalue()).splitlines():
                self.say(f"      {line}".rstrip())
        if status != 0:
            return f"exit {status}: {err.getvalue().strip()}"
        return out.getvalue()

    def must(self, *argv: str, who: str = "admin", show: bool = True) -> str:
        text = self.run(*argv, who=who, show=show)
        if text.startswith("exit "):
            raise PciplaneError(f"pciplane {' '.join(argv)} failed: {text}")
        return text


def _field(text: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}\s+(.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def networks(cli: Cli, step: Step, first: int) -> None:
    step(first, "Neutron networks and ports (GET /v2.0/agents shows each agent's mappings)")
    cli.must("network", "agent", "list")
    cli.must("network", "create", "net1", "--provider-network-type", "vlan",
             "--provider-physical-network", "physnet1", "--provider-segment", "100",
             "--share")  # fmt: skip
    cli.must("network", "create", "net2", "--provider-network-type", "flat",
             "--provider-physical-network", "physnet2", "--share", show=False)  # fmt: skip
    cli.must("network", "create", "net3", "--provider-network-type", "vlan",
             "--provider-physical-network", "physnet3", "--provider-segment", "300",
             "--share", show=False)  # fmt: skip
    cli.say("    (and net2: flat on physnet2; net3: VLAN 300 on physnet3, the hot-plug host's)")
    cli.must("port", "create", "p-direct", "--network", "net1", "--vnic-type", "direct",
             who="demo", show=False)  # fmt: skip
    cli.must("port", "create", "p-pf", "--network", "net2", "--vnic-type", "direct-physical",
             who="demo", show=False)  # fmt: skip
    cli.must("port", "list", who="demo")


def boot_with_ports(cli: Cli, step: Step, first: int, wait: Callable[[str], str]) -> None:
    step(first, "A server with a direct port and a GPU; another with a direct-physical port")
    cli.must("server", "create", "vm-net", "--flavor", "g1.small", "--nic", "port-id=p-direct",
             who="demo", show=False)  # fmt: skip
    cli.say(f"    vm-net is {wait('vm-net')}")
    cli.must("server", "show", "vm-net", who="demo")
    cli.must("port", "show", "p-direct", who="demo")
    cli.must("server", "create", "vm-pf", "--flavor", "m1.plain", "--nic", "port-id=p-pf",
             who="demo", show=False)  # fmt: skip
    cli.say(f"    vm-pf is {wait('vm-pf')}")
    pf = cli.must("port", "show", "p-pf", who="demo", show=False)
    for name in ("binding:vnic_type", "binding:host_id", "binding:vif_type",
                 "binding:profile", "status"):  # fmt: skip
        cli.say(f"      {name:18s} {_field(pf, name)}")


def hot_plug(cli: Cli, step: Step, first: int, wait: Callable[[str], str]) -> None:
    step(first, f"NIC hot plug: a macvtap port into a running server on {HOTPLUG_HOST}")
    cli.must("server", "create", "vm-hp", "--flavor", "m1.plain", "--nic",
             "net-id=net3,vnic-type=direct", who="demo", show=False)  # fmt: skip
    cli.say(f"    vm-hp is {wait('vm-hp')} (only {HOTPLUG_HOST} reaches physnet3)")
    cli.must("port", "create", "p-macvtap", "--network", "net3", "--vnic-type", "macvtap",
             who="demo", show=False)  # fmt: skip
    cli.must("server", "add", "port", "vm-hp", "p-macvtap", who="demo")
    cli.must("port", "show", "p-macvtap", who="demo")
    cli.must("port", "create", "p-extra", "--network", "net1", "--vnic-type", "direct",
             who="demo", show=False)  # fmt: skip
    cli.say("    libvirt's test:/// driver cannot hot plug; the service says so, nothing changes:")
    cli.run("server", "add", "port", "vm-net", "p-extra", who="demo")
    extra = cli.must("port", "show", "p-extra", who="demo", show=False)
    cli.say(
        f"    p-extra is still {_field(extra, 'status')}, "
        f"binding:vif_type {_field(extra, 'binding:vif_type')}"
    )
