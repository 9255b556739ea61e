"""The rollback request's forward-only state machine.

requested → dispatched → accepted → running → succeeded | failed | rejected, and expired when
the deadline passes first. A state may be skipped (CI can answer `running` without `accepted`,
and its callback can even beat our own `dispatched` mark), but never revisited: a request only
moves to a state of a higher rank, and the four terminal states end it.
"""

from __future__ import annotations

from enum import StrEnum


class RollbackState(StrEnum):
    REQUESTED = "requested"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class RequestKind(StrEnum):
    """What a release request asks CI to do; both kinds share one outbox and this state machine."""

    ROLLBACK = "rollback"  # go back to an earlier deploy
    PROMOTION = "promotion"  # give a canary / A/B / shadow deploy all the traffic


class Move(StrEnum):
    """What an attempted transition does."""

    APPLIED = "applied"  # the state moves forward
    DUPLICATE = "duplicate"  # already in that state: a no-op, answered as success
    BACKWARD = "backward"  # lower rank than now: refused
    CLOSED = "closed"  # the request already ended in another terminal state: refused


S = RollbackState
_RANK: dict[RollbackState, int] = {
    S.REQUESTED: 0,
    S.DISPATCHED: 1,
    S.ACCEPTED: 2,
    S.RUNNING: 3,
    S.SUCCEEDED: 4,
    S.FAILED: 4,
    S.REJECTED: 4,
    S.EXPIRED: 4,
}

TERMINAL_STATES: frozenset[RollbackState] = frozenset({S.SUCCEEDED, S.FAILED, S.REJECTED, S.EXPIRED})
OPEN_STATES: frozenset[RollbackState] = frozenset(set(RollbackState) - TERMINAL_STATES)
# The same, in lifecycle order: a stable list for database constraints and filters.
OPEN_STATE_NAMES: tuple[str, ...] = tuple(s.value for s in RollbackState if s in OPEN_STATES)
# What CI may report on the callback; `dispatched` and `expired` are ours alone.
CALLBACK_STATES: tuple[RollbackState, ...] = (
    S.ACCEPTED,
    S.RUNNING,
    S.SUCCEEDED,
    S.FAILED,
    S.REJECTED,
)


def is_open(state: str) -> bool:
    return RollbackState(state) in OPEN_STATES


def check_move(current: str, new: str) -> Move:
    """Classify the transition current → new without performing it.

    Raises ValueError for a name that is not a state (callers validate input first).
    """
    now, nxt = RollbackState(current), RollbackState(new)
    if now == nxt:
        return Move.DUPLICATE
    if now in TERMINAL_STATES:
        return Move.CLOSED
    if _RANK[nxt] < _RANK[now]:
        return Move.BACKWARD
    return Move.APPLIED


def allowed_next(current: str) -> tuple[RollbackState, ...]:
    """Every state the request may move to from `current` (empty once it has ended)."""
    return tuple(s for s in RollbackState if check_move(current, s) is Move.APPLIED)
