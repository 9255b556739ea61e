"""The rollback request's forward-only state machine, against the lifecycle written in the design."""

import itertools

import pytest

from rollbacks.states import (
    CALLBACK_STATES,
    OPEN_STATES,
    TERMINAL_STATES,
    Move,
    RollbackState,
    allowed_next,
    check_move,
    is_open,
)

TERMINALS = ["succeeded", "failed", "rejected", "expired"]


def test_it_walks_the_documented_happy_path_forward():
    path = ["requested", "dispatched", "accepted", "running", "succeeded"]
    for current, new in itertools.pairwise(path):
        assert check_move(current, new) is Move.APPLIED


@pytest.mark.parametrize("skipped_to", ["accepted", "running", "succeeded", "failed", "rejected"])
def test_it_lets_a_callback_overtake_the_dispatched_mark(skipped_to):
    # CI can answer before the worker has recorded `dispatched`.
    assert check_move("requested", skipped_to) is Move.APPLIED


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("dispatched", "requested"),
        ("accepted", "dispatched"),
        ("running", "accepted"),
        ("running", "requested"),
    ],
)
def test_it_refuses_every_backward_move(current, new):
    assert check_move(current, new) is Move.BACKWARD


@pytest.mark.parametrize("state", list(RollbackState))
def test_it_treats_a_repeated_state_as_a_duplicate(state):
    assert check_move(state, state) is Move.DUPLICATE


@pytest.mark.parametrize("ended", TERMINALS)
@pytest.mark.parametrize("new", [s for s in RollbackState])
def test_it_never_leaves_a_terminal_state(ended, new):
    expected = Move.DUPLICATE if new == ended else Move.CLOSED
    assert check_move(ended, new) is expected
    assert allowed_next(ended) == ()


@pytest.mark.parametrize("state", ["requested", "dispatched", "accepted", "running"])
def test_it_can_expire_or_fail_any_open_request(state):
    assert {"expired", "failed", "rejected", "succeeded"} <= set(allowed_next(state))


def test_it_lists_the_open_and_terminal_states_of_the_design():
    assert {str(s) for s in OPEN_STATES} == {
        "requested",
        "dispatched",
        "accepted",
        "running",
    }
    assert {str(s) for s in TERMINAL_STATES} == set(TERMINALS)
    assert is_open("running") and not is_open("expired")


def test_it_accepts_from_ci_only_the_states_ci_can_report():
    assert [str(s) for s in CALLBACK_STATES] == [
        "accepted",
        "running",
        "succeeded",
        "failed",
        "rejected",
    ]


def test_it_rejects_a_name_that_is_not_a_state():
    with pytest.raises(ValueError):
        check_move("requested", "done")
