"""Server and work-item states, and the tables of the moves between them.

Like devices (:mod:`pciplane.core.device`), servers and the work items agents take
change state only through a table here; the store persists the state a table returns
and writes it with ``WHERE state IN (allowed)``, so two processes can never both make
a move that only one may make. The server states are Nova's statuses (``BUILD``,
``ACTIVE``, ``SHUTOFF``, ``REBOOT``, ``HARD_REBOOT``, ``ERROR``, ``DELETED``); the task
shows an action under way (Nova's ``task_state``). A move marked ``idle`` starts an
action and so is refused while another is under way (a stop while a reboot runs).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.errors import StateError


class ServerState(enum.StrEnum):
    BUILD = "BUILD"  # being placed or started
    ACTIVE = "ACTIVE"  # its guest runs; its devices are allocated
    SHUTOFF = "SHUTOFF"  # its guest is stopped; its devices and ports stay claimed
    REBOOT = "REBOOT"  # a soft reboot (clean shutdown, then start) is under way
    HARD_REBOOT = "HARD_REBOOT"  # a hard reboot (power off, define afresh, start)
    ERROR = "ERROR"  # placement, start or reconciliation failed; the reason says why
    DELETED = "DELETED"  # gone; kept for the record


class ServerTask(enum.StrEnum):
    """An action under way on a server (Nova's ``task_state``, with Nova's names)."""

    DELETING = "deleting"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    REBOOTING = "rebooting"
    REBOOTING_HARD = "rebooting_hard"


class ServerEvent(enum.StrEnum):
    PLACED = "placed"  # devices claimed on a host, the start queued
    NO_VALID_HOST = "no_valid_host"  # placement found no host
    STARTED = "started"  # the agent started the guest
    START_FAILED = "start_failed"  # the agent could not start it; try another host
    GAVE_UP = "gave_up"  # every attempt failed, or no agent answered in time
    DELETE_REQUESTED = "delete_requested"  # the agent is asked to stop the guest
    DELETED = "deleted"  # the guest is gone and its devices are free
    DELETE_FAILED = "delete_failed"  # the agent could not stop the guest
    MISMATCH = "mismatch"  # the host reports that the guest is not as claimed
    STOP_REQUESTED = "stop_requested"  # the agent is asked to shut the guest down
    STOPPED = "stopped"  # the guest is shut off; its devices stay claimed
    START_REQUESTED = "start_requested"  # the agent is asked to start a stopped guest
    RESUMED = "resumed"  # the stopped guest runs again
    REBOOT_REQUESTED = "reboot_requested"  # the agent is asked to restart the guest
    HARD_REBOOT_REQUESTED = "hard_reboot_requested"  # ... power off, define afresh, start
    REBOOTED = "rebooted"  # the guest runs again after a reboot
    POWER_FAILED = "power_failed"  # a stop or a start failed; the guest is as it was
    REBOOT_FAILED = "reboot_failed"  # a reboot failed; the guest may be down


@dataclass(frozen=True, slots=True)
class Move:
    """One row of a table: from which states an event is allowed, and where it leads
    (None: the state stays, only the task changes); ``idle``: only from a server with
    no action under way (no task)."""

    allowed_from: frozenset[str]
    to: str | None
    idle: bool = False


_LIVE = frozenset(
    {
        ServerState.BUILD,
        ServerState.ACTIVE,
        ServerState.SHUTOFF,
        ServerState.REBOOT,
        ServerState.HARD_REBOOT,
        ServerState.ERROR,
    }
)
#: States in which a guest is defined on its host (its devices allocated).
_ON_HOST = frozenset({ServerState.ACTIVE, ServerState.SHUTOFF})
_REBOOTING = frozenset({ServerState.REBOOT, ServerState.HARD_REBOOT})

SERVER_MOVES: Mapping[ServerEvent, Move] = {
    ServerEvent.PLACED: Move(frozenset({ServerState.BUILD}), ServerState.BUILD),
    ServerEvent.NO_VALID_HOST: Move(frozenset({ServerState.BUILD}), ServerState.ERROR),
    ServerEvent.STARTED: Move(frozenset({ServerState.BUILD}), ServerState.ACTIVE),
    ServerEvent.START_FAILED: Move(frozenset({ServerState.BUILD}), ServerState.BUILD),
    ServerEvent.GAVE_UP: Move(frozenset({ServerState.BUILD}), ServerState.ERROR),
    ServerEvent.DELETE_REQUESTED: Move(_LIVE, None),
    ServerEvent.DELETED: Move(_LIVE, ServerState.DELETED),
    ServerEvent.DELETE_FAILED: Move(_LIVE, ServerState.ERROR),
    ServerEvent.MISMATCH: Move(_LIVE, ServerState.ERROR),
    ServerEvent.STOP_REQUESTED: Move(frozenset({ServerState.ACTIVE}), None, idle=True),
    ServerEvent.STOPPED: Move(frozenset({ServerState.ACTIVE}), ServerState.SHUTOFF),
    ServerEvent.START_REQUESTED: Move(frozenset({ServerState.SHUTOFF}), None, idle=True),
    ServerEvent.RESUMED: Move(frozenset({ServerState.SHUTOFF}), ServerState.ACTIVE),
    ServerEvent.REBOOT_REQUESTED: Move(
        frozenset({ServerState.ACTIVE}), ServerState.REBOOT, idle=True
    ),
    # Nova allows a hard reboot from stopped and from error: it is how an operator
    # brings back a guest whose domain was lost (a mismatch), from the plan.
    ServerEvent.HARD_REBOOT_REQUESTED: Move(
        frozenset({ServerState.ACTIVE, ServerState.SHUTOFF, ServerState.ERROR}),
        ServerState.HARD_REBOOT,
        idle=True,
    ),
    ServerEvent.REBOOTED: Move(_REBOOTING, ServerState.ACTIVE),
    ServerEvent.POWER_FAILED: Move(_ON_HOST, None),
    ServerEvent.REBOOT_FAILED: Move(_REBOOTING, ServerState.ERROR),
}


def server_move(
    state: ServerState, event: ServerEvent, task: ServerTask | None = None
) -> ServerState:
    """The state ``event`` leads to from ``state`` (with ``task`` under way);
    :class:`StateError` when not allowed."""
    move = SERVER_MOVES[event]
    if state not in move.allowed_from:
        allowed = ", ".join(sorted(move.allowed_from))
        raise StateError(f"a server that is {state} cannot be {event} (only from {allowed})")
    if move.idle and task is not None:
        raise StateError(f"a server that is {state} ({task}) cannot be {event} until that ends")
    return state if move.to is None else ServerState(move.to)


def server_allowed_from(event: ServerEvent) -> frozenset[str]:
    """The states the store's conditional write accepts for ``event``."""
    return SERVER_MOVES[event].allowed_from


class WorkKind(enum.StrEnum):
    """What an agent is asked to do with a server's guest."""

    START = "start"
    STOP = "stop"  # destroy and undefine: the server is being deleted
    ATTACH = "attach"
    DETACH = "detach"
    POWER_OFF = "power_off"  # shut the guest down cleanly (destroy after a timeout)
    POWER_ON = "power_on"  # start the stopped guest, defined from its plan
    REBOOT = "reboot"  # clean shutdown, then start (Nova's soft reboot)
    HARD_REBOOT = "hard_reboot"  # power off, define afresh from the plan, start


class WorkState(enum.StrEnum):
    PENDING = "pending"  # queued for the host's agent
    DELIVERED = "delivered"  # the agent took it and has not answered yet
    DONE = "done"  # the agent reported the outcome
    CANCELLED = "cancelled"  # withdrawn before any agent took it
    EXPIRED = "expired"  # no agent answered in time; the service acted without it


class WorkEvent(enum.StrEnum):
    TAKE = "take"
    FINISH = "finish"
    CANCEL = "cancel"
    REDELIVER = "redeliver"  # the agent restarted: what it took is handed out again
    EXPIRE = "expire"


_OPEN = frozenset({WorkState.PENDING, WorkState.DELIVERED})

WORK_MOVES: Mapping[WorkEvent, Move] = {
    WorkEvent.TAKE: Move(frozenset({WorkState.PENDING}), WorkState.DELIVERED),
    WorkEvent.FINISH: Move(_OPEN, WorkState.DONE),
    WorkEvent.CANCEL: Move(frozenset({WorkState.PENDING}), WorkState.CANCELLED),
    WorkEvent.REDELIVER: Move(frozenset({WorkState.DELIVERED}), WorkState.PENDING),
    WorkEvent.EXPIRE: Move(_OPEN, WorkState.EXPIRED),
}

#: Work that an agent may still act on.
OPEN_WORK = _OPEN


def work_move(state: WorkState, event: WorkEvent) -> WorkState:
    """The state ``event`` leads a work item to; :class:`StateError` when not allowed."""
    move = WORK_MOVES[event]
    if state not in move.allowed_from:
        raise StateError(f"a work item that is {state} cannot take the event {event}")
    assert move.to is not None
    return WorkState(move.to)


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """Why one attempt failed, and where (Nova's instance fault)."""

    host: str | None
    reason: str


def add_fault(faults: tuple[Fault, ...], fault: Fault) -> tuple[Fault, ...]:
    """``faults`` with ``fault`` appended, unless it repeats the last one.

    An agent that restarts reports the same mismatch again; the record says it once.
    """
    if faults and faults[-1] == fault:
        return faults
    return (*faults, fault)


# --- ports ------------------------------------------------------------------------


class PortStatus(enum.StrEnum):
    """A Neutron port's ``status`` (neutron-sriov-binding.md §1)."""

    DOWN = "DOWN"  # not wired, or its guest is not running
    BUILD = "BUILD"  # being hot-plugged into a running guest
    ACTIVE = "ACTIVE"  # wired and its guest runs (hostdev_physical: as soon as bound)


class PortEvent(enum.StrEnum):
    BOUND_DOWN = "bound_down"  # a driver bound it; hw_veb and ovs wait for the guest (§2.6)
    BOUND_ACTIVE = "bound_active"  # bound as hostdev_physical: ACTIVE at once (§2.6)
    ATTACH_REQUESTED = "attach_requested"  # hot plug into a running guest under way
    GUEST_UP = "guest_up"  # the agent wired the VF and the guest runs
    GUEST_DOWN = "guest_down"  # the guest stopped, or the hot plug failed
    UNBOUND = "unbound"  # released by its server, or its host binding cleared


_ANY_PORT = frozenset(PortStatus)

PORT_MOVES: Mapping[PortEvent, Move] = {
    PortEvent.BOUND_DOWN: Move(_ANY_PORT, PortStatus.DOWN),
    PortEvent.BOUND_ACTIVE: Move(_ANY_PORT, PortStatus.ACTIVE),
    PortEvent.ATTACH_REQUESTED: Move(_ANY_PORT, PortStatus.BUILD),
    PortEvent.GUEST_UP: Move(frozenset({PortStatus.DOWN, PortStatus.BUILD}), PortStatus.ACTIVE),
    PortEvent.GUEST_DOWN: Move(frozenset({PortStatus.ACTIVE, PortStatus.BUILD}), PortStatus.DOWN),
    PortEvent.UNBOUND: Move(_ANY_PORT, PortStatus.DOWN),
}


def port_move(status: PortStatus, event: PortEvent) -> PortStatus:
    """The status ``event`` leads a port to; :class:`StateError` when not allowed."""
    move = PORT_MOVES[event]
    if status not in move.allowed_from:
        allowed = ", ".join(sorted(move.allowed_from))
        raise StateError(f"a port that is {status} cannot be {event} (only from {allowed})")
    assert move.to is not None
    return PortStatus(move.to)
