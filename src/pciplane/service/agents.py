"""The host agents as Neutron's agent API shows them (``GET /v2.0/agents``).

Each registered host has one agent, pciplane's, doing the SR-IOV NIC agent's job: it is
shown with Neutron's ``agent_type`` and ``binary`` for that agent, alive when it reported
within ``agent_down_time`` (neutron-sriov-binding.md §1), and its ``configurations``: the
``device_mappings`` and the rest of its network configuration (§4-§5).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from pciplane.core.errors import NotFoundError
from pciplane.core.sriov_agent import SriovAgentConfig
from pciplane.service.settings import Settings
from pciplane.store.db import Database
from pciplane.store.hosts import agent_reports

AGENT_TYPE = "NIC Switch agent"
BINARY = "neutron-sriov-nic-agent"
#: Agent ids are derived from the host name, so they are stable across restarts.
_NAMESPACE = uuid.UUID("8f0b6d3e-2b1c-4f55-9d8e-7a1d6c0e4b21")


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentInfo:
    id: str
    host: str
    alive: bool
    heartbeat: float | None
    config: SriovAgentConfig


def agent_id(host: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, host))


class AgentService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def all(self, *, host: str | None = None) -> list[AgentInfo]:
        """Every host's agent (or ``host``'s), from the host rows alone: no device is read."""
        with self.db.read() as conn:
            rows = agent_reports(conn, host)
        now = time.time()
        return [
            AgentInfo(
                id=agent_id(name),
                host=name,
                alive=self.settings.agent_alive(seen, now),
                heartbeat=seen,
                config=config,
            )
            for name, seen, config in rows
        ]

    def get(self, agent: str) -> AgentInfo:
        for info in self.all():
            if agent in (info.id, info.host):
                return info
        raise NotFoundError(f"agent {agent} could not be found")
