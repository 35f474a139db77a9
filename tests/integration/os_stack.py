"""A live pciplane for the real OpenStack clients: ``pciplane serve`` and one agent on
libvirt's ``test:///`` driver, as processes, and the ``openstack`` CLI run as users run it.

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

import httpx
import sqlalchemy as sa
from load_helpers import ApiProcess, start_api

from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml

BIN = Path(sys.executable).parent
ADMIN_TOKEN = "os-admin-token"
HOST = "cmp1"
USERS = {
    "admin": {"password": "admin-pw", "roles": {"admin": "admin"}},
    "alice": {"password": "alice-pw", "roles": {"alpha": "member"}},
    "bob": {"password": "bob-pw", "roles": {"beta": "member"}},
}
A100 = {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
IMAGE = "6c1c1c5e-8a8c-4a55-9a57-6d3c6b9a1f00"
#: The boot source the CLI needs without an image service (openstack-clients.md §5, 09).
BOOT = f"uuid={IMAGE},source_type=image,destination_type=local,boot_index=0"
#: Tables a refused call must leave as they were (hosts change with every heartbeat).
TABLES = ("devices", "aliases", "flavors", "flavor_extra_specs", "servers", "claims", "work_items")


def service_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PCIPLANE_"))}
    env.update(
        {
            "PCIPLANE_DB_URL": db_url,
            "PCIPLANE_ADMIN_TOKEN": ADMIN_TOKEN,
            "PCIPLANE_AGENT_TOKENS": json.dumps({f"agent-{HOST}": HOST}),
            "PCIPLANE_PROJECT_TOKENS": json.dumps({"alpha-token": "alpha"}),
            "PCIPLANE_KEYSTONE_USERS": json.dumps(USERS),
            "PCIPLANE_NOAUTH": "true",
        }
    )
    return env


@dataclass
class Stack:
    api: ApiProcess
    agent: subprocess.Popen[bytes]
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

    def v1(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def rows(self) -> dict[str, list[tuple[object, ...]]]:
        engine = sa.create_engine(self.env["PCIPLANE_DB_URL"])
        try:
            with engine.connect() as conn:
                return {
                    t: sorted(
                        (tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr
                    )
                    for t in TABLES
                }
        finally:
            engine.dispose()


def start_stack(workdir: Path) -> Iterator[Stack]:
    node = workdir / f"{HOST}.xml"
    node.write_text(node_xml(build_host("gpu")), encoding="utf-8")
    spec = workdir / "spec.json"
    spec.write_text('[{"vendor_id": "10de"}]', encoding="utf-8")
    env = service_env(f"sqlite:///{workdir / 'pciplane.db'}")
    api = start_api(env["PCIPLANE_DB_URL"], env, workdir / "api.log")
    command = [
        str(BIN / "pciplane"), "agent", "--api", api.url, "--name", HOST,
        "--libvirt", f"test://{node}", "--device-spec", str(spec), "--interval", "0.1",
    ]  # fmt: skip
    log = (workdir / "agent.log").open("wb")
    agent = subprocess.Popen(
        command, env={**env, "PCIPLANE_TOKEN": f"agent-{HOST}"}, stdout=log, stderr=log
    )
    stack = Stack(api=api, agent=agent, env=env, workdir=workdir)
    try:
        deadline = time.monotonic() + 30
        while stack.v1("GET", f"/v1/hosts/{HOST}").status_code != 200:
            assert agent.poll() is None, (workdir / "agent.log").read_text()
            assert time.monotonic() < deadline, "the agent did not register"
            time.sleep(0.1)
        stack.v1("POST", "/v1/aliases", json=A100).raise_for_status()
        yield stack
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        log.close()
        api.stop()
