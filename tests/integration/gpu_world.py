"""One service and one simulated GPU host for agent tests, stepped by hand.

The service is the real app on SQLite in a temporary directory, reached through
Starlette's TestClient by the same :class:`pciplane.client.Client` the agent uses in
production. The host is the ``gpu`` sim profile (four A100s, two per NUMA node) as libvirt
``test:///`` node XML and as a sysfs tree; the hypervisor is libvirt's test driver or the
in-memory one (which reads its devices from that sysfs tree).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from load_helpers import ADMIN

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette: TestClient moves to httpx2
    from fastapi.testclient import TestClient

from pciplane.api.app import create_app
from pciplane.client import Client
from pciplane.core.spec import parse_device_specs
from pciplane.host.agent import Agent, AgentConfig, Scanner, libvirt_scanner, sysfs_scanner
from pciplane.host.libvirt_driver import LibvirtDriver, PowerState
from pciplane.service.settings import Settings
from pciplane.sim.host import build_host
from pciplane.sim.host_write import node_xml, write_sysfs
from pciplane.sim.memory_hypervisor import MemoryHypervisor

HOST = "cmp1"
AGENT_TOKEN = "tok-agent-cmp1"
PROJECT_TOKEN = "tok-project"
SPEC = [{"vendor_id": "10de"}]
A100 = {"name": "large_GPU", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
#: The four A100s of the ``gpu`` sim profile, two per NUMA node.
GPUS = ("0000:11:00.0", "0000:12:00.0", "0000:90:00.0", "0000:91:00.0")


@dataclass
class World:
    """One service, one host (node XML and sysfs tree), one hypervisor connection."""

    admin: Client
    user: Client
    agent_api: Client
    driver: LibvirtDriver
    #: The host's sysfs tree (what the in-memory hypervisor's agent scans).
    root: Path
    #: AgentConfig fields every agent of this world gets (``shutdown_timeout``, ...).
    agent_config: dict[str, object] = field(default_factory=dict)
    #: The in-memory hypervisor behind ``driver`` (None on libvirt's test driver).
    memory: MemoryHypervisor | None = None

    def agent(self, scanner: Scanner | None = None) -> Agent:
        """A fresh agent process's state over the same hypervisor (a restart)."""
        config = AgentConfig(
            name=HOST,
            device_spec_raw=tuple(SPEC),
            device_spec=parse_device_specs(SPEC),
            **self.agent_config,  # type: ignore[arg-type]
        )
        if scanner is None:
            memory = self.driver.uri.startswith("memory:")
            scanner = sysfs_scanner(self.root) if memory else libvirt_scanner(self.driver.uri)
        return Agent(config=config, api=self.agent_api, hypervisor=self.driver, scanner=scanner)

    def flavor(self, gpus: int) -> str:
        """A flavor of ``gpus`` A100s (created the first time it is asked for)."""
        name = f"g{gpus}"
        if name not in {f.name for f in self.admin.list_flavors()}:
            spec = {"pci_passthrough:alias": f"large_GPU:{gpus}"}
            self.admin.create_flavor(name, vcpus=1, ram=512, extra_specs=spec)
        return name

    def owners(self) -> dict[str, str | None]:
        doc = self.admin.get_host(HOST)
        return {str(d["address"]): d.get("owner") for d in doc.device_list}  # type: ignore[misc]

    def gpu_pool(self) -> tuple[int, int]:
        """``(total, free)`` over the host's pools."""
        pools = self.admin.get_host(HOST).pools
        return sum(p.total for p in pools), sum(p.free for p in pools)

    def free(self) -> int:
        return self.gpu_pool()[1]

    def domain_state(self) -> PowerState:
        (domain,) = self.driver.list_domains()
        return domain.state


@contextlib.contextmanager
def gpu_world(
    tmp_path: Path,
    hypervisor: Literal["test", "memory"] = "test",
    **agent_config: object,
) -> Iterator[World]:
    """The service on ``tmp_path``, the A100 alias created, and the host on
    ``hypervisor``; the agent is the test's to make (:meth:`World.agent`)."""
    sim = build_host("gpu")
    node = tmp_path / "node.xml"
    node.write_text(node_xml(sim), encoding="utf-8")
    write_sysfs(sim, tmp_path / "root")
    settings = Settings.model_validate(
        {
            "db_url": f"sqlite:///{tmp_path / 'svc.db'}",
            "admin_token": ADMIN,
            "project_tokens": {PROJECT_TOKEN: "p1"},
            "agent_tokens": {AGENT_TOKEN: HOST},
        }
    )
    app = create_app(settings)
    clients = [
        Client("http://testserver", token, http=TestClient(app))
        for token in (ADMIN, PROJECT_TOKEN, AGENT_TOKEN)
    ]
    memory = MemoryHypervisor() if hypervisor == "memory" else None
    driver = LibvirtDriver(memory) if memory else LibvirtDriver.connect(f"test://{node}")
    try:
        with driver:
            admin, user, agent_api = clients
            admin.create_alias(A100)
            yield World(
                admin=admin,
                user=user,
                agent_api=agent_api,
                driver=driver,
                root=tmp_path / "root",
                agent_config=agent_config,
                memory=memory,
            )
    finally:
        for client in clients:
            client.close()
        app.state.services.db.dispose()
