"""The processes of ``pciplane demo``: one API and one agent per synthetic host.

Each runs as ``python -m pciplane.cli.main ...`` in its own session (process group), its
output in a log file under the demo's directory; :meth:`Stack.stop` sends SIGTERM to
every group, waits, and SIGKILLs what is left, so nothing outlives the demo — whether it
ends, fails or is interrupted. Tokens travel in the environment, not on command lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pciplane.client import Client
from pciplane.core.errors import PciplaneError
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml, write_sysfs

STOP_WAIT_S = 5.0
#: The API's settings file in the demo's directory.
SETTINGS_FILE = "pciplane.toml"
START_WAIT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoHost:
    name: str
    profile: str
    #: libvirt's test driver on a node XML, or the in-memory hypervisor on a sysfs tree.
    node_xml: Path | None = None
    sysfs: Path | None = None
    #: The agent's network configuration flags (Neutron's SR-IOV agent options).
    network: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"test://{self.node_xml}" if self.node_xml is not None else "memory:///"


@dataclass(frozen=True, kw_only=True, slots=True)
class Tokens:
    admin: str
    project: str
    agents: dict[str, str]
    #: Keystone users (the openstack CLI's): ``admin`` (the admin) and ``demo`` (a member
    #: of project demo), each with a password.
    passwords: dict[str, str]

    @classmethod
    def generate(cls, hosts: list[str]) -> Tokens:
        return cls(
            admin=secrets.token_urlsafe(18),
            project=secrets.token_urlsafe(18),
            agents={h: secrets.token_urlsafe(18) for h in hosts},
            passwords={user: secrets.token_urlsafe(12) for user in ("admin", "demo")},
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Proc:
    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(kw_only=True)
class Stack:
    """What the demo started, so it can all be stopped."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def spawn(self, label: str, args: list[str], env: dict[str, str]) -> Proc:
        """``pciplane ARGS`` with ``env`` and none of the caller's ``PCIPLANE_*`` settings
        (the demo's own are in its settings file and flags)."""
        log = self.workdir / f"{label}.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PCIPLANE_")}
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "pciplane.cli.main", *args],
                env={**inherited, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(label=label, popen=popen, log=log)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            code = proc.popen.poll()
            if code is not None:
                raise PciplaneError(
                    f"{proc.label} exited with status {code}; its log ends:\n{proc.tail()}"
                )

    def stop(self) -> list[int]:
        """SIGTERM every process group, wait, then SIGKILL; the pids stopped."""
        for proc in self.procs:
            _signal_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.popen, signal.SIGKILL)
                proc.popen.wait()
            _signal_group(proc.popen, signal.SIGKILL)  # anything the process left behind
        return [p.popen.pid for p in self.procs]


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)


#: Each profile's PFs, as its agent maps them (Neutron's physical_device_mappings).
MAPPINGS = {
    "mixed": "physnet1:ens2f0,physnet1:ens2f1,physnet2:ens6f0,physnet2:ens6f1",
    "sriov-nic": "physnet2:ens1f0,physnet2:ens1f1",
}


def write_hosts(workdir: Path, plan: list[tuple[str, str]]) -> list[DemoHost]:
    """One libvirt test-driver node XML per ``(host name, sim profile)``."""
    hosts = []
    for name, profile in plan:
        path = workdir / f"{name}.xml"
        path.write_text(node_xml(build_host(profile)), encoding="utf-8")
        mappings = MAPPINGS.get(profile)
        network = ("--physical-device-mappings", mappings) if mappings else ()
        hosts.append(DemoHost(name=name, profile=profile, node_xml=path, network=network))
    return hosts


def write_hotplug_host(workdir: Path, name: str, network: tuple[str, ...]) -> DemoHost:
    """A sysfs tree for an agent on the in-memory hypervisor (it can hot plug)."""
    root = workdir / name
    write_sysfs(build_host("sriov-nic"), root)
    return DemoHost(name=name, profile="sriov-nic", sysfs=root, network=network)


#: The demo's NUMA host: an in-memory hypervisor on a sysfs tree with two SMT cells of 16
#: cores (node 0: CPUs 0-15 and 32-47, node 1: 16-31 and 48-63) and two A100s on each;
#: all but each cell's first two cores are for pinned guests (Nova's cpu_dedicated_set).
NUMA_HOST = "numa-1"
NUMA_DEDICATED = "2-15,18-31,34-47,50-63"


def write_numa_host(workdir: Path) -> DemoHost:
    """A sysfs tree with NUMA cells, CPUs and memory, for pinned guests."""
    root = workdir / NUMA_HOST
    write_sysfs(build_host("gpu"), root)
    return DemoHost(
        name=NUMA_HOST,
        profile="gpu",
        sysfs=root,
        network=("--cpu-dedicated-set", NUMA_DEDICATED),
    )


def _quoted(text: str) -> str:
    """A TOML basic string (its escapes are JSON's)."""
    return json.dumps(text)


def settings_toml(workdir: Path, tokens: Tokens, port: int) -> str:
    """The API's settings: its database, tokens, Keystone users, port (``serve --config``
    reads them, and so does ``pciplane openrc --config``)."""
    db_url = f"sqlite:///{workdir / 'pciplane.db'}"
    lines = [
        "# pciplane demo: the API's settings (pciplane serve --config, pciplane openrc --config)",
        "[pciplane]",
        f"db_url = {_quoted(db_url)}",
        f"admin_token = {_quoted(tokens.admin)}",
        'bind_host = "127.0.0.1"',
        f"port = {port}",
        "quota_cores = 64            # per project (Nova's defaults: 20 cores, 51200 MiB)",
        "quota_ram = 262144",
        "",
        "[pciplane.project_tokens]",
        f'{_quoted(tokens.project)} = "demo"',
        "",
        "[pciplane.agent_tokens]",
        *(f"{_quoted(token)} = {_quoted(host)}" for host, token in tokens.agents.items()),
    ]
    roles = {"admin": 'admin = "admin"', "demo": 'demo = "member"'}
    for user, password in tokens.passwords.items():
        lines += ["", f"[pciplane.keystone_users.{user}]", f"password = {_quoted(password)}",
                  f"roles = {{{roles[user]}}}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def start_api(stack: Stack, tokens: Tokens, port: int) -> tuple[Proc, str]:
    config = stack.workdir / SETTINGS_FILE
    config.touch(mode=0o600)  # it holds the tokens and passwords
    config.write_text(settings_toml(stack.workdir, tokens, port), encoding="utf-8")
    args = ["serve", "--config", str(config), "--log-level", "warning"]
    proc = stack.spawn("api", args, {})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_WAIT_S
    with Client(url, tokens.admin, timeout=2.0) as client:
        while True:
            stack.check_alive()
            with contextlib.suppress(PciplaneError):
                client.health()
                return proc, url
            if time.monotonic() > deadline:
                raise PciplaneError(f"the API did not answer within {START_WAIT_S:.0f}s")
            time.sleep(0.1)


def start_agent(
    stack: Stack, host: DemoHost, *, url: str, token: str, spec_file: Path | None
) -> Proc:
    args = [
        "agent",
        "--api", url,
        "--name", host.name,
        "--libvirt", host.uri,
        "--interval", "0.2",
        *host.network,
    ]  # fmt: skip
    if spec_file is not None:
        args += ["--device-spec", str(spec_file)]
    if host.sysfs is not None:
        args += ["--sysfs-root", str(host.sysfs)]
    return stack.spawn(f"agent-{host.name}", args, {"PCIPLANE_TOKEN": token})


def wait_registered(stack: Stack, client: Client, names: list[str]) -> None:
    deadline = time.monotonic() + START_WAIT_S
    while True:
        stack.check_alive()
        known = {h.name for h in client.list_hosts()}
        if known >= set(names):
            return
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(set(names) - known))
            raise PciplaneError(f"hosts {missing} did not register within {START_WAIT_S:.0f}s")
        time.sleep(0.1)
