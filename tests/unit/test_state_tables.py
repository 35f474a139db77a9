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
    WorkEvent,
    WorkState,
    add_fault,
    server_move,
    work_move,
)

B, A, E, D = ServerState.BUILD, ServerState.ACTIVE, ServerState.ERROR, ServerState.DELETED


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
    ],
)
def test_refused_server_moves_name_both_sides(state: ServerState, event: ServerEvent) -> None:
    with pytest.raises(StateError, match=f"a server that is {state} cannot be {event}"):
        server_move(state, event)


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
