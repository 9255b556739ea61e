"""Replay-safe request handling keyed by Idempotency-Key, webhook-id or batch_id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.db import IntegrityError, transaction

from tracker.api_errors import ApiError
from tracker.models import IdempotencyRecord, Project

Handler = Callable[[], tuple[int, dict]]


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def run_once(
    *, project: Project, kind: str, key: str, request_hash: str, handler: Handler, replay_is_conflict: bool = False
) -> tuple[int, dict]:
    """Run handler once per (project, kind, key); its result is stored in the same transaction.

    A repeat with the same body gets the stored answer (or a 409 when replay_is_conflict);
    a repeat with a different body is a 422. Concurrent repeats serialise on the unique key.
    """
    for _ in range(2):
        previous = IdempotencyRecord.objects.filter(project=project, kind=kind, key=key).first()
        if previous is not None:
            return _replay(previous, kind, request_hash, replay_is_conflict)
        try:
            with transaction.atomic():
                status, body = handler()
                IdempotencyRecord.objects.create(
                    project=project,
                    kind=kind,
                    key=key,
                    request_hash=request_hash,
                    response_status=status,
                    response_body=body,
                )
                return status, body
        except IntegrityError:
            # Lost the race to a concurrent twin; its record is committed now.
            continue
    raise ApiError("idempotency_conflict", "a concurrent request with this key is still in progress", 409)


def _replay(previous: IdempotencyRecord, kind: str, request_hash: str, replay_is_conflict: bool) -> tuple[int, dict]:
    if previous.request_hash != request_hash:
        raise ApiError(
            "idempotency_key_reused",
            f"this {kind} was already used with a different body",
            422,
            {kind: ["reused with a different body"]},
        )
    if replay_is_conflict:
        raise ApiError(
            "webhook_replayed",
            f"this {kind} was already processed",
            409,
            {kind: [f"already processed; see {previous.response_body.get('id', '')}"]},
        )
    return previous.response_status, previous.response_body
