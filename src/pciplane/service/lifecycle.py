"""Stop, start and reboot of servers: the user's request and the agent's answer.

A request checks the server can take the action now (:func:`pciplane.core.power.
check_action`: a refused one is a 409 naming the state, and changes nothing), that its
host's agent is alive, then in one transaction moves the server (Nova's status and task)
and queues the agent's work item. The answer is at once, as Nova's ``os-stop``,
``os-start`` and ``reboot`` answer 202; the agent's report finishes it: the server
SHUTOFF or ACTIVE again, its ports DOWN or ACTIVE with it, or the failure recorded as a
fault (a failed stop or start leaves the state as it was; a failed reboot is ERROR, from
which a hard reboot or a delete recovers, as in Nova). Devices stay claimed throughout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Connection

from pciplane.core.binding import VifType
from pciplane.core.errors import NotFoundError, StateError
from pciplane.core.lifecycle import (
    SERVER_MOVES,
    Fault,
    PortEvent,
    PortStatus,
    ServerState,
    WorkEvent,
    add_fault,
)
from pciplane.core.power import ACTION_OF_WORK, POWER_MOVES, PowerAction, check_action
from pciplane.service.nics import NicService
from pciplane.service.settings import Settings
from pciplane.store import ports as portstore
from pciplane.store import servers
from pciplane.store.db import Database
from pciplane.store.hosts import host_id_of, last_seen_of
from pciplane.store.servers import ServerRecord, WorkRecord

_POWER_TASKS = frozenset(m.task for m in POWER_MOVES.values())
#: Ports whose status follows their guest (a ``hostdev_physical`` one is ACTIVE once bound).
_FOLLOW_GUEST = (VifType.HW_VEB, VifType.OVS)


class LifecycleService:
    def __init__(self, db: Database, settings: Settings, nics: NicService) -> None:
        self.db = db
        self.settings = settings
        self.nics = nics

    # --- the user's side ----------------------------------------------------------

    def request(self, server_id: str, project: str | None, action: PowerAction) -> ServerRecord:
        """Queue ``action`` for the server's agent; the server with its task under way."""
        move = POWER_MOVES[action]
        now = time.time()
        with self.db.write() as conn:
            server = servers.get_server(conn, server_id, project=project)
            if server.state is ServerState.DELETED:
                raise NotFoundError(f"server {server_id!r} does not exist")
            check_action(server.name, server.state, server.task, action)
            if server.host is None:
                raise StateError(
                    f"server {server.name!r} is {server.state} on no host: there is no guest "
                    f"to {str(action).replace('_', ' ')}"
                )
            host_id = host_id_of(conn, server.host)
            self._alive(conn, server.host, action)
            servers.move_server(conn, server.id, move.requested, task=move.task, updated_at=now)
            servers.add_work(conn, host_id=host_id, server_id=server.id, kind=move.work, now=now)
        return self.get(server.id)

    def _alive(self, conn: Connection, host: str, action: PowerAction) -> None:
        seen = last_seen_of(conn, host)
        limit = self.settings.agent_down_time
        if seen is None or time.time() - seen > limit:
            raise StateError(
                f"the agent of host {host} is down (no report within {limit:.0f}s): "
                f"cannot {str(action).replace('_', ' ')} its servers now"
            )

    def expected_power(self, host: str) -> tuple[list[str], list[str]]:
        """The host's servers whose guest is stopped, and those with an action under
        way: what the agent's reconciliation must not count as a mismatch."""
        with self.db.read() as conn:
            found = servers.states_on_host(conn, host)
        stopped = [i for i, state, task in found if state is ServerState.SHUTOFF and task is None]
        changing = [
            i
            for i, state, task in found
            if task in _POWER_TASKS or state in (ServerState.REBOOT, ServerState.HARD_REBOOT)
        ]
        return sorted(stopped), sorted(changing)

    def get(self, server_id: str) -> ServerRecord:
        with self.db.read() as conn:
            return servers.get_server(conn, server_id)

    # --- the agent's side ---------------------------------------------------------

    def finished(
        self,
        work: WorkRecord,
        *,
        ok: bool,
        reason: str,
        domain_xml: str | None,
        wired: Sequence[Mapping[str, object]] = (),
    ) -> None:
        """The agent's report of a power work item."""
        move = POWER_MOVES[ACTION_OF_WORK[work.kind]]
        now = time.time()
        with self.db.write() as conn:
            server = servers.get_server(conn, work.server_id)
            servers.move_work(conn, work, WorkEvent.FINISH, reason=reason or None)
            event = move.done if ok else move.failed
            if server.task is not move.task:  # a delete overtook it: the server is its
                return
            if server.state not in SERVER_MOVES[event].allowed_from:
                # The host reported a mismatch meanwhile (ERROR): the action just ends.
                servers.update_server(conn, server.id, task=None, updated_at=now)
                return
            if not ok:
                why = f"{_verb(work)} failed on {work.host}: {reason}"
                servers.move_server(
                    conn,
                    server.id,
                    move.failed,
                    task=None,
                    reason=why,
                    faults=add_fault(server.faults, Fault(host=work.host, reason=why)),
                    updated_at=now,
                )
                return
            servers.move_server(conn, server.id, move.done, task=None, reason=None, updated_at=now)
            if domain_xml is not None:
                servers.update_server(conn, server.id, domain_xml=domain_xml)
            if move.runs_after:
                self.nics.guest_up(conn, server.id, wired)
            else:
                guest_down(conn, server.id)


def _verb(work: WorkRecord) -> str:
    return str(ACTION_OF_WORK[work.kind]).replace("_", " ")


def guest_down(conn: Connection, server_id: str) -> None:
    """The guest is shut off: its ports that follow the guest go DOWN (Neutron shows a
    stopped instance's SR-IOV and OVS ports DOWN); they stay bound, their devices held."""
    now = time.time()
    for port in portstore.list_ports(conn, server_id=server_id):
        if port.status is PortStatus.ACTIVE and port.vif_type in _FOLLOW_GUEST:
            portstore.move_port(conn, port.id, PortEvent.GUEST_DOWN, now=now)
