"""Dispatch through the outbox to a real receiver on 127.0.0.1: signed, retried, claimed once."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from rollbacks import services
from rollbacks.models import RollbackRequest
from rollbacks.tasks import rollback_dispatch, rollbacks_sweep
from tests.hostile_receiver import DrippingReceiver
from tests.receiver import Receiver, Reply
from tests.rollbacks.rollback_world import SECRET, endpoint, history
from tracker import signing
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def open_request(project, url, **endpoint_options):
    world = history(project)
    endpoint(project, url=url, **endpoint_options)
    return world, services.rollback_request_create(deploy=world.v3, reason="p99 doubled")


def test_it_sends_one_signed_generic_request_naming_current_and_target(project):
    with Receiver() as receiver:
        world, rollback = open_request(project, receiver.url("/rollback"))
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) is None
    [sent] = receiver.requests
    assert signing.verify([SECRET], sent.headers, sent.body) == str(rollback.pk)
    body = json.loads(sent.body)
    assert body["type"] == "rollback.requested" and body["rollback_id"] == str(rollback.pk)
    assert body["current"]["version"] == "3.0" and body["target"]["version"] == "2.0"
    assert body["target"]["commit_sha"] == world.v2.commit_sha and body["reason"] == "p99 doubled"
    assert body["callback"]["url"].endswith(f"/api/v1/rollbacks/{rollback.pk}/status")
    assert services.callback_token_hash(body["callback"]["token"]) == rollback.callback_token_hash
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.state == "dispatched" and row.dispatched_at and row.dispatch_due_at is None
    assert row.attempts.get().status_code == 200
    assert AuditLog.objects.filter(action="rollback.dispatch_attempt").count() == 1


def test_it_sends_githubs_repository_dispatch_with_its_headers(project):
    with Receiver([Reply(204, b"")]) as receiver:
        _, rollback = open_request(project, receiver.url("/repos/acme/ml/dispatches"), fmt="github", token="ghp_x")
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
    [sent] = receiver.requests
    body = json.loads(sent.body)
    assert set(body) == {"event_type", "client_payload"} and len(body["client_payload"]) <= 10
    assert sent.headers["authorization"] == "Bearer ghp_x"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert signing.verify([SECRET], sent.headers, sent.body) == str(rollback.pk)
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "dispatched"


def test_it_triggers_a_gitlab_pipeline_with_the_trigger_token_in_the_body(project):
    with Receiver([Reply(201, b"{}")]) as receiver:
        _, rollback = open_request(
            project, receiver.url("/api/v4/projects/7/trigger/pipeline"), fmt="gitlab", token="glptt-abc", ref="release"
        )
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
    body = json.loads(receiver.requests[0].body)
    assert (body["token"], body["ref"]) == ("glptt-abc", "release")
    assert body["variables"]["ROLLBACK_TARGET_VERSION"] == "2.0"
    assert "authorization" not in receiver.requests[0].headers


def test_a_failed_send_is_retried_later_with_the_same_webhook_id(project, settings):
    settings.ROLLBACK_RETRY_BASE_SECONDS = 30
    with Receiver([Reply(503)]) as receiver:
        _, rollback = open_request(project, receiver.url())
        delay = services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
        assert 15 <= delay <= 30
        row = RollbackRequest.objects.get(pk=rollback.pk)
        assert row.state == "requested" and row.dispatch_due_at > timezone.now() and row.dispatch_claimed_at is None
        # Not due yet: a second worker finds nothing to do.
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) is None
        assert len(receiver.requests) == 1
        RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_due_at=timezone.now())
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) is None
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(rollback.pk)
    assert [a.status_code for a in RollbackRequest.objects.get(pk=rollback.pk).attempts.all()] == [503, 200]


def test_a_permanent_refusal_fails_the_request_and_frees_the_stream(project):
    with Receiver([Reply(401, b"bad credentials")]) as receiver:
        world, rollback = open_request(project, receiver.url())
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) is None
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.state == "failed" and "HTTP 401" in row.message and row.dispatch_due_at is None
    assert services.rollback_request_create(deploy=world.v3).state == "requested"


def test_a_claimed_send_is_not_sent_twice(project):
    with Receiver() as receiver:
        _, rollback = open_request(project, receiver.url())
        RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_claimed_at=timezone.now())
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) is None
        assert receiver.requests == []
        # A claim older than the timeout belongs to a dead worker: it counts as a failed try, and the
        # send is retried after the backoff.
        stale = timezone.now() - services.DISPATCH_CLAIM_TIMEOUT - timedelta(seconds=1)
        RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_claimed_at=stale)
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) > 0
        row = RollbackRequest.objects.get(pk=rollback.pk)
        assert (row.dispatch_tries, row.dispatch_claimed_at, receiver.requests) == (1, None, [])
        assert "lease" in row.attempts.get().error
        RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_due_at=timezone.now())
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
        assert len(receiver.requests) == 1
    assert [a.status_code for a in RollbackRequest.objects.get(pk=rollback.pk).attempts.all()] == [None, 200]


def test_a_request_ended_before_its_send_is_not_sent(project):
    with Receiver() as receiver:
        _, rollback = open_request(project, receiver.url())
        RollbackRequest.objects.filter(pk=rollback.pk).update(state="rejected")
        rollback_dispatch(str(rollback.pk))
    assert receiver.requests == []


def test_a_callback_that_overtakes_the_send_keeps_its_state(project):
    with Receiver() as receiver:
        _, rollback = open_request(project, receiver.url())
        services.rollback_callback_apply(rollback=rollback, status="running")
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert len(receiver.requests) == 1 and row.state == "running" and row.dispatched_at is not None


def test_the_sweep_expires_overdue_requests_and_resends_lost_messages(project):
    with Receiver() as receiver:
        world, rollback = open_request(project, receiver.url())
        assert rollbacks_sweep() == {"completed": 0, "expired": 0, "enqueued": 1}  # in-process: the send happens now
        assert len(receiver.requests) == 1
        RollbackRequest.objects.filter(pk=rollback.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        assert rollbacks_sweep() == {"completed": 0, "expired": 1, "enqueued": 0}
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.state == "expired" and row.finished_at is not None
    assert world.v3.events.filter(kind="rollback.expired").exists()


def test_claims_that_keep_expiring_fail_the_request_at_the_maximum_tries(project, monkeypatch):
    monkeypatch.setattr("rollbacks.services.dispatch.DISPATCH_MAX_TRIES", 3)
    _, rollback = open_request(project, "http://127.0.0.1:9/rollback")
    for _ in range(3):
        stale = timezone.now() - services.DISPATCH_CLAIM_TIMEOUT - timedelta(seconds=1)
        RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_claimed_at=stale, dispatch_due_at=stale)
        assert str(rollback.pk) in services.rollbacks_due_for_dispatch()
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert (row.state, row.dispatch_tries) == ("failed", 3)
    assert "lease" in row.message
    assert services.rollbacks_due_for_dispatch() == []


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (SoftTimeLimitExceeded(), "timed out: the worker's time limit ended the attempt"),
        (RuntimeError("boom"), "internal error: RuntimeError"),
    ],
)
def test_a_failure_raised_inside_the_send_is_recorded_as_a_failed_try(project, monkeypatch, raised, expected):
    _, rollback = open_request(project, "http://127.0.0.1:9/rollback")

    def send(*args, **kwargs):
        raise raised

    monkeypatch.setattr("tracker.outbound.send", send)
    before = RollbackRequest.objects.get(pk=rollback.pk).dispatch_tries
    RollbackRequest.objects.filter(pk=rollback.pk).update(dispatch_due_at=timezone.now())
    assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) > 0
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert (row.state, row.dispatch_tries, row.dispatch_claimed_at) == ("requested", before + 1, None)
    assert row.attempts.last().error == expected


def test_a_rollback_receiver_that_drips_its_answer_is_cut_off_at_the_deadline_and_retried(project, settings):
    settings.OUTBOUND_TIMEOUT_SECONDS = 1
    with DrippingReceiver("headers", interval=0.25) as receiver:
        _, rollback = open_request(project, receiver.url("/rollback"))
        started = time.monotonic()
        assert services.rollback_dispatch_attempt(rollback_id=str(rollback.pk)) > 0
        elapsed = time.monotonic() - started
        receiver.wait_for(1)
    row = RollbackRequest.objects.get(pk=rollback.pk)
    [attempt] = row.attempts.all()
    assert elapsed < 1 + 2, elapsed
    assert attempt.error == "timed out: no complete answer within the 1 s deadline" and attempt.status_code is None
    assert row.state == "requested" and row.dispatch_tries == 1 and row.dispatch_due_at > timezone.now()
