"""Shared by the rollback services: the state machine applied to rows, and the audit trail.

Every state change goes through `move`, which applies the pure state machine with a conditional
UPDATE (`WHERE state = <what we read>`), so a callback, the dispatcher, the expiry sweep and a
completing deploy can race without one overwriting another's later state.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from deployments.models import DeployEvent
from rollbacks.models import RollbackRequest
from rollbacks.states import TERMINAL_STATES, Move, RequestKind, RollbackState, check_move
from tracker.models import ApiToken, Project
from tracker.services import audit_record


def log_event(
    rollback: RollbackRequest,
    action: str,
    message: str,
    *,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
    details: dict | None = None,
) -> None:
    """Audit log entry plus a line in the deploy's event log (what the page shows).

    Actions are written as `rollback.<what>` and recorded under the request's kind
    (`promotion.dispatched` for a promotion), as are the details' id key.
    """
    kind = rollback.kind or RequestKind.ROLLBACK
    action = kind + action.removeprefix("rollback")
    details = {kind: str(rollback.pk), **(details or {})}
    project = Project(pk=rollback.project_id)
    audit_record(project=project, action=action, user=user, token=token, target=rollback, details=details)
    DeployEvent.objects.create(deploy_id=rollback.deploy_id, kind=action, message=message[:500], details=details)


def move(rollback: RollbackRequest, new: str, *, extra: dict | None = None) -> Move:
    """Apply the state machine to the row with a conditional UPDATE; refresh `rollback`."""
    outcome = check_move(rollback.state, new)
    if outcome is not Move.APPLIED:
        return outcome
    values = {"state": new, **(extra or {})}
    if RollbackState(new) in TERMINAL_STATES:
        values.update(finished_at=timezone.now(), dispatch_due_at=None, dispatch_claimed_at=None)
    updated = RollbackRequest.objects.filter(pk=rollback.pk, state=rollback.state).update(**values)
    if updated != 1:
        # Someone moved it first: judge again against what is there now.
        rollback.refresh_from_db()
        return move(rollback, new, extra=extra) if rollback.state != new else Move.DUPLICATE
    for key, value in values.items():
        setattr(rollback, key, value)
    return Move.APPLIED
