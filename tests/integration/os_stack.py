"""A live pciplane for the real OpenStack clients: ``pciplane serve`` and two agents, as
processes, and the ``openstack`` CLI run as users run it.

- ``cmp1``: libvirt's ``test:///`` driver on the ``gpu`` profile (four A100s); it cannot
  hot plug, which ``server add port`` must show.
- ``hp1``: the in-memory hypervisor (``memory:///``, which can hot plug, as ``pciplane demo``
  runs it) on the ``mixed`` profile: two T4s, ConnectX-5 VFs on physnet1 and XXV710 PFs on
  physnet2; ``--sriov-only``, so servers without an SR-IOV port stay on ``cmp1``.

The settings travel in the environment (``PCIPLANE_*``), so ``pciplane openrc`` reads the
same ones the service does, and the CLI is pointed at pciplane only by what ``openrc``
prints.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openstack
import sqlalchemy as sa
from load_helpers import ApiProcess, start_api

from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml, write_sysfs

BIN = Path(sys.executable).parent
ADMIN_TOKEN = "os-admin-token"
HOST = "cmp1"
USERS: dict[str, dict[str, Any]] = {
    "admin": {"password": "admin-pw", "roles": {"admin": "admin"}},
    "alice": {"password": "alice-pw", "roles": {"alpha": "member"}},
    "bob": {"password": "bob-pw", "roles": {"beta": "member"}},
}
HOTPLUG = "hp1"
A100 = {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
T4 = {"name": "small_GPU", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}
#: hp1's allow-list: its GPUs, the ConnectX-5 VFs (physnet1, trusted: a port may ask for
#: a trusted VF), the XXV710 PFs (physnet2).
HOTPLUG_SPEC = [
    {"vendor_id": "10de"},
    {"vendor_id": "15b3", "product_id": "1018", "physical_network": "physnet1", "trusted": "true"},
    {"vendor_id": "8086", "product_id": "158b", "physical_network": "physnet2"},
]
HOTPLUG_MAPPINGS = "physnet1:ens2f0,physnet1:ens2f1,physnet2:ens6f0,physnet2:ens6f1"
IMAGE = "6c1c1c5e-8a8c-4a55-9a57-6d3c6b9a1f00"
#: The boot source the CLI needs without an image service (openstack-clients.md §5, 09).
BOOT = f"uuid={IMAGE},source_type=image,destination_type=local,boot_index=0"
#: Tables a refused call must leave as they were (hosts change with every heartbeat).
TABLES = (
    "devices", "aliases", "flavors", "flavor_extra_specs", "servers", "claims", "work_items",
    "networks", "network_segments", "ports",
)  # fmt: skip
#: What a hot plug the hypervisor refused must leave as it was: the devices, claims and
#: servers, and each port's binding (its revision and timestamp move; the work item that
#: carried the attempt stays, done, as the record of it).
STATE = {
    "devices": "SELECT host_id, address, status, owner FROM devices",
    "claims": "SELECT * FROM claims",
    "servers": "SELECT * FROM servers",
    "ports": "SELECT id, status, host_id, vif_type, vif_details, profile, bound_profile, "
             "server_id, device_id, device_owner FROM ports",
}  # fmt: skip


def service_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PCIPLANE_"))}
    env.update(
        {
            "PCIPLANE_DB_URL": db_url,
            "PCIPLANE_ADMIN_TOKEN": ADMIN_TOKEN,
            "PCIPLANE_AGENT_TOKENS": json.dumps({f"agent-{h}": h for h in (HOST, HOTPLUG)}),
            "PCIPLANE_PROJECT_TOKENS": json.dumps({"alpha-token": "alpha"}),
            "PCIPLANE_KEYSTONE_USERS": json.dumps(USERS),
            "PCIPLANE_NOAUTH": "true",
        }
    )
    return env


@dataclass
class Stack:
    api: ApiProcess
    agents: list[subprocess.Popen[bytes]]
    env: dict[str, str]
    workdir: Path

    @property
    def url(self) -> str:
        return self.api.url

    def openrc(self, *args: str) -> dict[str, str]:
        """The variables ``pciplane openrc ARGS`` exports (and none it unsets)."""
        out = subprocess.run(
            [str(BIN / "pciplane"), "openrc", "--url", self.url, *args],
            env=self.env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        found: dict[str, str] = {}
        for line in out.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                found[name] = shlex.split(value)[0] if value else ""
        return found

    def openstack(self, rc: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """``openstack ARGS`` with only ``rc`` to find pciplane (no clouds.yaml)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(rc)
        env["HOME"] = str(self.workdir)  # no clouds.yaml of the machine's user
        return subprocess.run(
            [str(BIN / "openstack"), *args], env=env, capture_output=True, text=True, timeout=120
        )

    def openstack_json(self, rc: Mapping[str, str], *args: str) -> dict[str, object]:
        done = self.openstack(rc, *args, "-f", "json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert isinstance(found, dict | list)
        return found  # type: ignore[return-value]

    def connect(self, mode: str, user: str = "alice") -> Any:
        """openstacksdk: Keystone password auth as ``user`` (``password``), or the admin
        token with an endpoint override per service and no Keystone (``admin_token``)."""
        if mode == "password":
            projects = USERS[user]["roles"]
            auth = {
                "auth_url": f"{self.url}/identity", "username": user,
                "password": USERS[user]["password"], "project_name": next(iter(projects)),
                "user_domain_name": "Default", "project_domain_name": "Default",
            }  # fmt: skip
            return openstack.connect(auth=auth, region_name="RegionOne", identity_api_version="3")
        return openstack.connect(
            auth_type="admin_token",
            auth={"endpoint": f"{self.url}/identity", "token": ADMIN_TOKEN},
            compute_endpoint_override=f"{self.url}/compute/v2.1",
            network_endpoint_override=self.url,
            image_endpoint_override=f"{self.url}/image",
        )

    def v1(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def rows(self) -> dict[str, list[tuple[object, ...]]]:
        return self._read({t: f"SELECT * FROM {t}" for t in TABLES})

    def state(self) -> dict[str, list[tuple[object, ...]]]:
        return self._read(STATE)

    def _read(self, queries: Mapping[str, str]) -> dict[str, list[tuple[object, ...]]]:
        engine = sa.create_engine(self.env["PCIPLANE_DB_URL"])
        try:
            with engine.connect() as conn:
                return {
                    name: sorted((tuple(r) for r in conn.execute(sa.text(query))), key=repr)
                    for name, query in queries.items()
                }
        finally:
            engine.dispose()


def _agent(env: dict[str, str], url: str, name: str, args: list[str], log: Path) -> Any:
    state = log.parent / f"state-{name}"
    command = [str(BIN / "pciplane"), "agent", "--api", url, "--name", name, *args,
               "--interval", "0.1", "--state-dir", str(state)]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env={**env, "PCIPLANE_TOKEN": f"agent-{name}"}, stdout=out, stderr=out
        )


def add_image(stack: Stack, path: Path) -> None:
    """The boot image the tests name (``IMAGE``, as ``cirros``): a small qcow2."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}",
               "Content-Type": "application/octet-stream"}  # fmt: skip
    params = {"name": "cirros", "id": IMAGE}
    answer = httpx.post(stack.url + "/v1/images", params=params, headers=headers,
                        content=path.read_bytes(), timeout=30)  # fmt: skip
    answer.raise_for_status()


def start_stack(workdir: Path) -> Iterator[Stack]:
    node = workdir / f"{HOST}.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    spec = workdir / "spec.json"
    spec.write_text('[{"vendor_id": "10de"}]', encoding="utf-8")
    write_sysfs(build_host("mixed"), workdir / HOTPLUG)
    hp_spec = workdir / "hp-spec.json"
    hp_spec.write_text(json.dumps(HOTPLUG_SPEC), encoding="utf-8")
    env = service_env(f"sqlite:///{workdir / 'pciplane.db'}")
    env["PCIPLANE_DATA_DIR"] = str(workdir / "data")
    api = start_api(env["PCIPLANE_DB_URL"], env, workdir / "api.log")
    agents = [
        _agent(env, api.url, HOST, ["--libvirt", f"test://{node}", "--device-spec", str(spec)],
               workdir / "agent.log"),
        _agent(env, api.url, HOTPLUG, [
            "--libvirt", "memory:///", "--sysfs-root", str(workdir / HOTPLUG),
            "--device-spec", str(hp_spec), "--physical-device-mappings", HOTPLUG_MAPPINGS,
            "--sriov-only"], workdir / "agent-hp1.log"),
    ]  # fmt: skip
    stack = Stack(api=api, agents=agents, env=env, workdir=workdir)
    try:
        deadline = time.monotonic() + 30
        for name in (HOST, HOTPLUG):
            while stack.v1("GET", f"/v1/hosts/{name}").status_code != 200:
                logs = [(workdir / f).read_text() for f in ("agent.log", "agent-hp1.log")]
                assert all(a.poll() is None for a in agents), logs
                assert time.monotonic() < deadline, f"the agent of {name} did not register"
                time.sleep(0.1)
        for alias in (A100, T4):
            stack.v1("POST", "/v1/aliases", json=alias).raise_for_status()
        add_image(stack, workdir / "cirros.qcow2")
        yield stack
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(timeout=10)
        api.stop()
