"""A hostile receiver against a real Celery worker (issue 11, item 1 and acceptance 1).

One project's admin points a webhook channel at a receiver that drips its answer one byte every 0.5 s,
forever. The worker here is `--pool=solo`, one task at a time, so "the other project's delivery goes out
meanwhile" means: the hostile send holds the worker for the outbound deadline and no longer, and the other
project's delivery, queued behind it, goes out right after — within DEADLINE + 2 s of the drip starting.
(Production workers run several processes, where it goes out in parallel.) The hostile delivery is recorded
failed within the deadline + 2 s each time, and stops after ALERT_DELIVERY_MAX_ATTEMPTS tries.
"""

from __future__ import annotations

import time

import pytest

from alerts import services
from alerts.models import Channel, Delivery, DeliveryAttempt
from tests.helpers import wait_until
from tests.hostile_receiver import DrippingReceiver
from tests.receiver import Receiver
from tracker import signing

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

DEADLINE = 2
MAX_ATTEMPTS = 3


@pytest.mark.worker_env(
    OUTBOUND_TIMEOUT_SECONDS=str(DEADLINE),
    ALERT_DELIVERY_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    ALERT_RETRY_BASE_SECONDS="1",
    ALERT_RETRY_CAP_SECONDS="2",
)
def test_a_dripping_receiver_holds_the_worker_for_the_deadline_only_and_runs_out_of_tries(
    project, other_project, celery_worker_process
):
    with DrippingReceiver("headers", interval=0.5) as hostile, Receiver() as healthy:
        bad, _ = services.channel_create(project=project, name="hostile", kind="webhook", url=hostile.url())
        good, secret = services.channel_create(project=other_project, name="ok", kind="webhook", url=healthy.url())
        dripped = services.channel_test(channel=bad)  # enqueued first: the worker takes it first
        wanted = services.channel_test(channel=good)

        [drip] = hostile.wait_for(1, timeout=30)
        first = wait_until(
            lambda: DeliveryAttempt.objects.filter(delivery=dripped, number=1).first(), timeout=30, interval=0.05
        )
        recorded_after = time.time() - drip.accepted_at
        [sent] = healthy.wait_for(1, timeout=30)
        healthy_after = sent.received_at - drip.accepted_at

        wait_until(lambda: Delivery.objects.get(pk=dripped.pk).status == "failed", timeout=60)
        time.sleep(DEADLINE + 2)  # long enough for a fourth try to have begun, had there been one
        connections = len(hostile.connections)

    assert recorded_after <= DEADLINE + 2, recorded_after
    assert first.error == f"timed out: no complete answer within the {DEADLINE} s deadline"
    assert DEADLINE * 1000 <= first.latency_ms < (DEADLINE + 1) * 1000
    assert healthy_after <= DEADLINE + 2, healthy_after
    assert signing.verify([secret], sent.headers, sent.body) == Delivery.objects.get(pk=wanted.pk).message_id
    assert Delivery.objects.get(pk=wanted.pk).status == "delivered"

    failed = Delivery.objects.get(pk=dripped.pk)
    attempts = list(failed.attempt_log.order_by("number"))
    assert (failed.attempts, connections) == (MAX_ATTEMPTS, MAX_ATTEMPTS)
    assert [a.number for a in attempts] == list(range(1, MAX_ATTEMPTS + 1))
    assert all("deadline" in a.error and a.latency_ms < (DEADLINE + 1) * 1000 for a in attempts)
    assert attempts[-1].retry_at is None
    assert Channel.objects.get(pk=bad.pk).consecutive_failures == MAX_ATTEMPTS
