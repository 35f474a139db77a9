"""``pciplane demo``: the whole story on one machine, in under a minute.

It starts the API (``pciplane serve``) on a fresh SQLite database and three to five host
agents (``pciplane agent``) on libvirt's ``test:///`` driver, each host generated from a
``pciplane.sim`` profile, and one more on the in-memory hypervisor (which can hot plug);
creates aliases and flavors, boots servers with GPUs and a VF, shows a request refused
with its reasons, deletes a server and shows its devices free again; then networks and
ports in Neutron's words: a VLAN network and a ``direct`` port booted with a GPU, a
``direct-physical`` port on a flat network, a ``macvtap`` port hot-plugged (and
``test:///`` refusing to); prints the pool table, and closes the loop offline
(``export`` then ``fit``).
Everything it started is stopped at the end, on failure and on Ctrl-C (issue 4, "The
demo"); ``--keep`` leaves it running until Ctrl-C and prints the URL, the tokens and the
``pciplane openrc`` line that points the ``openstack`` CLI at it (the API's settings,
Keystone users ``admin`` and ``demo`` included, are in ``pciplane.toml`` in the demo's
directory). ``--dir DIR`` puts that directory where it can be found, and keeps it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from pciplane.cli import demo_network as dn
from pciplane.cli import demo_stack as st
from pciplane.cli.table import table_lines
from pciplane.client import Client
from pciplane.core.errors import ConfigError, PciplaneError
from pciplane.wire.hosts import HostOut
from pciplane.wire.servers import ServerOut as Server

#: (host name, sim profile); the first ``--hosts`` are used.
PLAN = [
    ("compute-1", "gpu"),
    ("compute-2", "mixed"),
    ("compute-3", "gpu"),
    ("compute-4", "mixed"),
    ("compute-5", "sriov-nic"),
]
DEVICE_SPEC = [
    {"vendor_id": "10de"},
    {"vendor_id": "15b3", "product_id": "1018", "physical_network": "physnet1"},
    {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"},
    {"vendor_id": "8086", "product_id": "158b", "physical_network": "physnet2"},
]
ALIASES = [
    {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"},
    {"name": "small_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"},
    {"name": "cx5_VF", "vendor_id": "15b3", "product_id": "1018", "device_type": "type-VF"},
]
FLAVORS = [
    ("g1.large", 8, 16384, "large_GPU:1"),
    ("g1.large-x2", 16, 32768, "large_GPU:2"),
    ("g1.small-vf", 4, 8192, "small_GPU:1,cx5_VF:1"),
    ("g1.big-mixed", 32, 65536, "large_GPU:2,small_GPU:1"),
    ("g1.small", 4, 8192, "small_GPU:1"),
    ("m1.plain", 2, 2048, ""),
]
#: A pinned guest in two NUMA cells with an A100 on one of them (Nova's extra specs).
PINNED = (
    "g1.pinned",
    8,
    16384,
    {
        "pci_passthrough:alias": "large_GPU:1",
        "hw:cpu_policy": "dedicated",
        "hw:numa_nodes": "2",
        "hw:pci_numa_affinity_policy": "required",
    },
)
#: The domain XML elements the pinned guest's placement shows in.
PLACEMENT_TAGS = ("<vcpu", "<vcpupin", "<emulatorpin", "<memory mode", "<memnode", "<cell ",
                  "<address domain")  # fmt: skip
BOOTS = [("vm-1", "g1.large"), ("vm-2", "g1.large-x2"), ("vm-3", "g1.small-vf")]
REFUSED = ("vm-big", "g1.big-mixed")
WAIT_S = 30.0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the API and host agents on libvirt's test driver, end to end"
    )
    parser.add_argument(
        "--hosts", type=int, default=3, metavar="3..5", help="synthetic hosts (default 3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep everything running until "
                        "Ctrl-C, and print how to point the openstack CLI at it")  # fmt: skip
    parser.add_argument("--dir", type=Path, metavar="DIR", help="the demo's files (database, "
                        "logs, settings) in DIR, new or empty, kept afterwards (default: a "
                        "temporary directory, removed at the end)")  # fmt: skip
    parser.set_defaults(func=run)


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say(f"\n[{number}] {title}")


def _interrupt(_signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    if not 3 <= args.hosts <= len(PLAN):
        raise ConfigError(f"--hosts must be 3 to {len(PLAN)}, not {args.hosts}")
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    with _workdir(args.dir) as workdir:
        stack = st.Stack(workdir=workdir)
        try:
            url, tokens = story(stack, PLAN[: args.hosts])
            if args.keep:
                with contextlib.suppress(KeyboardInterrupt):  # the way out of --keep
                    hold(stack, url, tokens)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C waits for this
                signal.signal(signum, signal.SIG_IGN)
            pids = stack.stop()
            say(f"\nstopped {len(pids)} processes ({', '.join(map(str, pids))}); nothing is left")
    say(f"demo finished in {time.monotonic() - started:.1f}s")
    return 0


@contextlib.contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    """``given`` (created, and kept), or a temporary directory removed at the end."""
    if given is None:
        with tempfile.TemporaryDirectory(prefix="pciplane-demo-") as tmp:
            yield Path(tmp)
        return
    path = given.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"--dir {given}: not a new or empty directory (the demo starts afresh)")
    path.mkdir(parents=True, exist_ok=True)
    yield path


def story(stack: st.Stack, plan: list[tuple[str, str]]) -> tuple[str, st.Tokens]:
    """Every step, on a running stack; the API's URL and the tokens, for ``--keep``."""
    say("pciplane demo: PCI passthrough end to end on libvirt's test:/// driver")
    step(1, f"Generating {len(plan)} hosts (libvirt test-driver node XML from pciplane.sim)")
    hosts = st.write_hosts(stack.workdir, plan)
    spec_file = stack.workdir / "device_spec.json"
    spec_file.write_text(json.dumps(DEVICE_SPEC, indent=1), encoding="utf-8")
    for host in hosts:
        say(f"    {host.name:10s} profile {host.profile:9s} {host.uri}")
    say(f"    device_spec for every host: {json.dumps(DEVICE_SPEC)}")
    hotplug = st.write_hotplug_host(stack.workdir, dn.HOTPLUG_HOST, dn.HOTPLUG_NETWORK)
    say(
        f"    {hotplug.name:10s} profile {hotplug.profile:9s} {hotplug.uri} (in memory, it can "
        f"hot plug) with sysfs under {hotplug.sysfs}"
    )
    numa = st.write_numa_host(stack.workdir)
    tokens = st.Tokens.generate([h.name for h in (*hosts, hotplug, numa)])

    step(2, "Starting the API: pciplane serve on a fresh SQLite database")
    api, url = st.start_api(stack, tokens, st.free_port())
    say(f"    {url}  (pid {api.popen.pid}, database {stack.workdir / 'pciplane.db'})")

    step(3, "Starting one agent per host: pciplane agent --libvirt test:///...")
    for host in (*hosts, hotplug):
        spec = None if host is hotplug else spec_file
        agent = st.start_agent(stack, host, url=url, token=tokens.agents[host.name], spec_file=spec)
        flags = " ".join(host.network)
        say(f"    {host.name:10s} pid {agent.popen.pid}" + (f"  {flags}" if flags else ""))
    with Client(url, tokens.admin) as admin, Client(url, tokens.project) as user:
        st.wait_registered(stack, admin, [h.name for h in (*hosts, hotplug)])
        say("    every agent registered its host:")
        pool_table(admin.list_hosts())
        catalog(admin)
        servers = boot(stack, user)
        refuse(user)
        free_again(stack, admin, user, servers[0])
        pinned(stack, admin, user, numa, url=url, token=tokens.agents[numa.name], spec=spec_file)
        cli = dn.Cli(url, tokens.admin, tokens.project, say)

        def wait(name: str) -> str:
            server = _wait(stack, user, user.find_server(name), {"ACTIVE", "ERROR"})
            if server.state != "ACTIVE":
                raise PciplaneError(f"server {name} ended {server.state}: {server.reason}")
            return f"ACTIVE on {server.host}"

        dn.networks(cli, step, 9)
        dn.boot_with_ports(cli, step, 10, wait)
        say("    (the test:/// agent records the VF settings it would apply, binding §4:)")
        agent_lines(stack, "compute-2", "start vm-net ")
        dn.hot_plug(cli, step, 11, wait)
        step(12, "The pools at the end")
        pool_table(admin.list_hosts())
        offline(admin, stack.workdir)
    return url, tokens


def catalog(admin: Client) -> None:
    step(4, "Aliases and flavors, in Nova's words")
    for entry in ALIASES:
        admin.create_alias(entry)
        say(f"    alias  {entry['name']:10s} {json.dumps(entry)}")
    for name, vcpus, ram, request in FLAVORS:
        specs = {"pci_passthrough:alias": request} if request else {}
        admin.create_flavor(name, vcpus=vcpus, ram=ram, extra_specs=specs)
        shown = f"pci_passthrough:alias={request}" if request else "no PCI device"
        say(f"    flavor {name:12s} {vcpus:2d} vCPUs {ram:6d} MiB  {shown}")


def _wait(stack: st.Stack, client: Client, server: Server, until: set[str]) -> Server:
    deadline = time.monotonic() + WAIT_S
    while True:
        stack.check_alive()
        server = client.get_server(server.id)
        if server.state in until and server.task is None:
            return server
        if time.monotonic() > deadline:
            raise PciplaneError(f"server {server.name} is still {server.state} after {WAIT_S}s")
        time.sleep(0.05)


def boot(stack: st.Stack, user: Client) -> list[Server]:
    step(5, "Booting servers with GPUs (and a ConnectX-5 VF), as project 'demo'")
    out = []
    for name, flavor in BOOTS:
        server = user.create_server(name, flavor=flavor)
        server = _wait(stack, user, server, {"ACTIVE", "ERROR"})
        if server.state != "ACTIVE":
            raise PciplaneError(f"server {name} ended {server.state}: {server.reason}")
        devices = ", ".join(server.devices)
        say(f"    {name:6s} {flavor:12s} ACTIVE on {server.host}: {devices}")
        out.append(server)
    say("    (each agent defined and started the domain XML the service rendered)")
    return out


def refuse(user: Client) -> None:
    name, flavor = REFUSED
    step(6, f"A request no host can take: {name} with {flavor} (2 A100 and a T4 together)")
    server = user.create_server(name, flavor=flavor)
    say(f"    {name} is {server.state}; the service says why:")
    head, _, reasons = (server.reason or "").partition(": ")
    say(f"    {head}:")
    for reason in re.split(r"; (?=\d+ host\(s\))", reasons):
        say(f"      - {reason}")
    user.delete_server(server.id)


def pinned(
    stack: st.Stack,
    admin: Client,
    user: Client,
    numa: st.DemoHost,
    *,
    url: str,
    token: str,
    spec: Path,
) -> None:
    """A pinned two-cell guest with its GPU on one of its cells, its domain XML, and a
    request over the project's quota refused before anything is claimed."""
    name, vcpus, ram, specs = PINNED
    step(8, f"CPUs, memory and NUMA: {name} pinned on two cells with an A100, and a quota")
    agent = st.start_agent(stack, numa, url=url, token=token, spec_file=spec)
    st.wait_registered(stack, admin, [numa.name])
    say(
        f"    {numa.name} pid {agent.popen.pid}: in memory on a sysfs tree with 2 cells x 32 CPUs "
        f"(SMT) and 4 A100s; its agent runs with --cpu-dedicated-set {st.NUMA_DEDICATED}"
    )
    admin.create_flavor(name, vcpus=vcpus, ram=ram, extra_specs=specs)
    say(
        f"    flavor {name}: {vcpus} vCPUs {ram} MiB "
        + " ".join(f"{k}={v}" for k, v in specs.items())
    )
    server = _wait(stack, user, user.create_server("vm-pin", flavor=name), {"ACTIVE", "ERROR"})
    if server.state != "ACTIVE":
        raise PciplaneError(f"server vm-pin ended {server.state}: {server.reason}")
    say(f"    vm-pin ACTIVE on {server.host}: {', '.join(server.devices)}; its domain XML:")
    for line in (server.domain_xml or "").splitlines():
        if line.strip().startswith(PLACEMENT_TAGS):
            say(f"      {line.strip()}")
    admin.set_quotas("demo", {"cores": 32})
    quotas = user.show_quotas()
    say("    the admin: pciplane quota set demo --cores 32; project demo now: " + ", ".join(
        f"{q.resource} {q.in_use}/{q.limit}"
        for q in quotas.quotas
        if q.resource in ("instances", "cores", "ram")
    ))  # fmt: skip
    over = BOOTS[1][1]
    try:
        user.create_server("vm-over", flavor=over)
    except PciplaneError as exc:
        say(f"    vm-over with {over}: refused, nothing claimed: {exc}")
    else:
        raise PciplaneError(f"vm-over with {over} was not refused by the cores quota")
    user.delete_server(server.id)
    _wait(stack, user, server, {"DELETED"})
    say("    vm-pin deleted: its CPUs, memory and GPU are free again")


def _pools_of(admin: Client, host: str) -> str:
    pools = admin.get_host(host).pools
    return ", ".join(f"{p.pool} {p.used}/{p.total} used" for p in pools if p.total)


def free_again(stack: st.Stack, admin: Client, user: Client, server: Server) -> None:
    step(7, f"Deleting {server.name}: its agent destroys the domain, the devices are freed")
    host = server.host or ""
    say(f"    before: {host}: {_pools_of(admin, host)}")
    user.delete_server(server.id)
    gone = _wait(stack, user, server, {"DELETED"})
    say(f"    {gone.name} is {gone.state}; {', '.join(server.devices)} free again")
    say(f"    after:  {host}: {_pools_of(admin, host)}")
    agent_lines(stack, host, f"{server.name} ")


def pool_table(hosts: list[HostOut]) -> None:
    rows = [
        (host.name, p.total, p.used, p.free, p.pool)
        for host in hosts
        for p in host.pools
        if p.total
    ]
    for line in table_lines(("HOST", "TOTAL", "USED", "FREE", "POOL"), rows, indent="    "):
        say(line)


def offline(admin: Client, workdir: Path) -> None:
    from pciplane.cli.main import main as cli_main

    step(13, "Closing the loop offline: pciplane export, then pciplane fit on the snapshot")
    snapshot = workdir / "fleet.json"
    snapshot.write_text(json.dumps(admin.export(), indent=1), encoding="utf-8")
    ports = ["physnet1", "physnet2:direct-physical"]
    say(f"    exported the live state to {snapshot.name}; what could still take a direct port")
    say("    on physnet1 and a direct-physical one on physnet2?")
    argv = ["fit", "--fleet", str(snapshot), *(w for p in ports for w in ("--port", p))]
    say(f"    $ pciplane fit --fleet {snapshot.name} --port {ports[0]} --port {ports[1]}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(argv)
    for line in out.getvalue().splitlines():
        say(f"    {line}".rstrip())


def agent_lines(stack: st.Stack, host: str, server: str) -> None:
    """The agent's own log lines about one server: one line per action."""
    log = stack.workdir / f"agent-{host}.log"
    lines = [line for line in log.read_text(errors="replace").splitlines() if server in line]
    say(f"    agent {host} logged:")
    for line in lines:
        say(f"      {line}")


def hold(stack: st.Stack, url: str, tokens: st.Tokens) -> None:
    say("\nThe demo stays up (--keep); Ctrl-C stops everything.")
    say(f"    API            {url}   (OpenAPI at {url}/docs)")
    say(f"    admin token    {tokens.admin}")
    say(f"    project token  {tokens.project}   (project 'demo')")
    for host, token in tokens.agents.items():
        say(f"    agent token    {token}   ({host})")
    say(f"    try: PCIPLANE_API={url} PCIPLANE_TOKEN={tokens.admin} pciplane host list")
    config = stack.workdir / st.SETTINGS_FILE
    say("    the openstack CLI (pip install python-openstackclient), as project demo's user:")
    say(f'      eval "$(pciplane openrc --config {config} --user demo)"')
    say("      (--user admin for the admin; Keystone passwords in that file)")
    say(f"    logs in {stack.workdir}")
    while True:
        stack.check_alive()
        time.sleep(0.5)
