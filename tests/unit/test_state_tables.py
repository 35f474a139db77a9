"""Server and work-item states move only as the tables say (core/lifecycle.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pciplane.core.errors import StateError
from pciplane.core.lifecycle import (
    SERVER_MOVES,
    WORK_MOVES,
    Fault,
    ServerEvent,
    ServerState,
    ServerTask,
    WorkEvent,
    WorkState,
    add_fault,
    server_move,
    work_move,
)

B, A, E, D = ServerState.BUILD, ServerState.ACTIVE, ServerState.ERROR, ServerState.DELETED
S, R, H = ServerState.SHUTOFF, ServerState.REBOOT, ServerState.HARD_REBOOT


@pytest.mark.parametrize(
    ("state", "event", "to"),
    [
        pytest.param(B, ServerEvent.PLACED, B, id="placed-stays-build"),
        pytest.param(B, ServerEvent.STARTED, A, id="started"),
        pytest.param(B, ServerEvent.NO_VALID_HOST, E, id="no-valid-host"),
        pytest.param(B, ServerEvent.START_FAILED, B, id="start-failed-retries"),
        pytest.param(B, ServerEvent.GAVE_UP, E, id="gave-up"),
        pytest.param(A, ServerEvent.DELETE_REQUESTED, A, id="delete-keeps-state"),
        pytest.param(E, ServerEvent.DELETE_REQUESTED, E, id="delete-from-error"),
        pytest.param(A, ServerEvent.DELETED, D, id="deleted"),
        pytest.param(A, ServerEvent.MISMATCH, E, id="mismatch"),
        pytest.param(E, ServerEvent.MISMATCH, E, id="mismatch-again"),
        pytest.param(A, ServerEvent.DELETE_FAILED, E, id="delete-failed"),
        pytest.param(A, ServerEvent.STOP_REQUESTED, A, id="stop-keeps-active-until-done"),
        pytest.param(A, ServerEvent.STOPPED, S, id="stopped"),
        pytest.param(S, ServerEvent.START_REQUESTED, S, id="start-keeps-shutoff-until-done"),
        pytest.param(S, ServerEvent.RESUMED, A, id="resumed"),
        pytest.param(A, ServerEvent.REBOOT_REQUESTED, R, id="reboot"),
        pytest.param(S, ServerEvent.HARD_REBOOT_REQUESTED, H, id="hard-reboot-from-shutoff"),
        pytest.param(E, ServerEvent.HARD_REBOOT_REQUESTED, H, id="hard-reboot-from-error"),
        pytest.param(H, ServerEvent.REBOOTED, A, id="rebooted"),
        pytest.param(R, ServerEvent.REBOOT_FAILED, E, id="reboot-failed"),
        pytest.param(S, ServerEvent.POWER_FAILED, S, id="start-failed-keeps-shutoff"),
        pytest.param(S, ServerEvent.DELETE_REQUESTED, S, id="delete-stopped"),
        pytest.param(R, ServerEvent.MISMATCH, E, id="mismatch-while-rebooting"),
    ],
)
def test_allowed_server_moves(state: ServerState, event: ServerEvent, to: ServerState) -> None:
    assert server_move(state, event) is to


@pytest.mark.parametrize(
    ("state", "event"),
    [
        pytest.param(A, ServerEvent.STARTED, id="started-twice"),
        pytest.param(E, ServerEvent.PLACED, id="placed-after-error"),
        pytest.param(A, ServerEvent.START_FAILED, id="start-failed-when-active"),
        pytest.param(D, ServerEvent.DELETED, id="deleted-twice"),
        pytest.param(D, ServerEvent.MISMATCH, id="mismatch-on-deleted"),
        pytest.param(D, ServerEvent.DELETE_REQUESTED, id="delete-deleted"),
        pytest.param(S, ServerEvent.STOP_REQUESTED, id="stop-shutoff"),
        pytest.param(A, ServerEvent.START_REQUESTED, id="start-active"),
        pytest.param(S, ServerEvent.REBOOT_REQUESTED, id="soft-reboot-shutoff"),
        pytest.param(B, ServerEvent.HARD_REBOOT_REQUESTED, id="hard-reboot-building"),
    ],
)
def test_refused_server_moves_name_both_sides(state: ServerState, event: ServerEvent) -> None:
    with pytest.raises(StateError, match=f"a server that is {state} cannot be {event}"):
        server_move(state, event)


def test_an_action_waits_for_the_one_under_way() -> None:
    with pytest.raises(StateError, match=r"ACTIVE \(powering-off\) cannot be reboot_requested"):
        server_move(A, ServerEvent.REBOOT_REQUESTED, ServerTask.POWERING_OFF)
    # The agent's answer to the action under way is not an action of its own.
    assert server_move(A, ServerEvent.STOPPED, ServerTask.POWERING_OFF) is S


def test_deleted_is_final() -> None:
    assert not any(D in move.allowed_from for move in SERVER_MOVES.values())


OPEN = {WorkState.PENDING, WorkState.DELIVERED}


@given(st.lists(st.sampled_from(list(WorkEvent)), max_size=12))
def test_work_items_follow_the_table(events: list[WorkEvent]) -> None:
    """Any sequence of events: each allowed one moves as the table says, a refused one
    changes nothing, and an item that ended (done, cancelled, expired) never reopens."""
    state = WorkState.PENDING
    for event in events:
        move = WORK_MOVES[event]
        if state in move.allowed_from:
            after = work_move(state, event)
            assert after == move.to
            assert state in OPEN, "only open items move"
            state = after
        else:
            with pytest.raises(StateError):
                work_move(state, event)


def test_repeated_fault_is_recorded_once() -> None:
    a, b = Fault(host="h1", reason="x"), Fault(host="h2", reason="y")
    assert add_fault(add_fault((), a), a) == (a,)
    assert add_fault((a, b), a) == (a, b, a)
