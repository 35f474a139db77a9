"""Stop, start and reboot of a placed server: each action as one row of data.

An action is asked for by a user (``server stop|start|reboot [--hard]``, Nova's
``os-stop``, ``os-start`` and ``reboot`` actions), moves the server by the table of
:mod:`pciplane.core.lifecycle` with Nova's task under way, queues one work item for the
host's agent, and ends when the agent reports: the event for success (the guest runs, or
is shut off) or for failure. The devices and ports a server holds stay claimed through
all of it: a stopped server keeps them, as a stopped Nova instance keeps its PCI claims.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from pciplane.core.errors import StateError
from pciplane.core.lifecycle import (
    SERVER_MOVES,
    ServerEvent,
    ServerState,
    ServerTask,
    WorkKind,
)


class PowerAction(enum.StrEnum):
    STOP = "stop"
    START = "start"
    REBOOT = "reboot"
    HARD_REBOOT = "hard_reboot"


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerMove:
    """What one action does: the events it takes, its task and the agent's work."""

    #: How messages name it: ``stopped``, ``hard rebooted``.
    done_words: str
    requested: ServerEvent
    task: ServerTask
    work: WorkKind
    done: ServerEvent
    failed: ServerEvent
    #: Whether the guest runs once it is done (its ports go ACTIVE) or is shut off (DOWN).
    runs_after: bool


POWER_MOVES: Mapping[PowerAction, PowerMove] = {
    PowerAction.STOP: PowerMove(
        done_words="stopped",
        requested=ServerEvent.STOP_REQUESTED,
        task=ServerTask.POWERING_OFF,
        work=WorkKind.POWER_OFF,
        done=ServerEvent.STOPPED,
        failed=ServerEvent.POWER_FAILED,
        runs_after=False,
    ),
    PowerAction.START: PowerMove(
        done_words="started",
        requested=ServerEvent.START_REQUESTED,
        task=ServerTask.POWERING_ON,
        work=WorkKind.POWER_ON,
        done=ServerEvent.RESUMED,
        failed=ServerEvent.POWER_FAILED,
        runs_after=True,
    ),
    PowerAction.REBOOT: PowerMove(
        done_words="rebooted",
        requested=ServerEvent.REBOOT_REQUESTED,
        task=ServerTask.REBOOTING,
        work=WorkKind.REBOOT,
        done=ServerEvent.REBOOTED,
        failed=ServerEvent.REBOOT_FAILED,
        runs_after=True,
    ),
    PowerAction.HARD_REBOOT: PowerMove(
        done_words="hard rebooted",
        requested=ServerEvent.HARD_REBOOT_REQUESTED,
        task=ServerTask.REBOOTING_HARD,
        work=WorkKind.HARD_REBOOT,
        done=ServerEvent.REBOOTED,
        failed=ServerEvent.REBOOT_FAILED,
        runs_after=True,
    ),
}

#: The action each power work kind carries out, for the agent's report.
ACTION_OF_WORK: Mapping[WorkKind, PowerAction] = {m.work: a for a, m in POWER_MOVES.items()}


def allowed_from(action: PowerAction) -> frozenset[str]:
    """The states a server may be in for ``action`` (with no other action under way)."""
    return SERVER_MOVES[POWER_MOVES[action].requested].allowed_from


def check_action(
    name: str, state: ServerState, task: ServerTask | None, action: PowerAction
) -> None:
    """Refuse ``action`` on a server that cannot take it now, naming its state: a
    :class:`StateError` (HTTP 409, as Nova's InstanceInvalidState)."""
    allowed = allowed_from(action)
    verb = str(action).replace("_", " ")
    if state not in allowed:
        only = ", ".join(sorted(allowed))
        raise StateError(f"server {name!r} is {state}: cannot {verb} it (only when {only})")
    if task is not None:
        raise StateError(f"server {name!r} is {state} ({task}): cannot {verb} it until that ends")
