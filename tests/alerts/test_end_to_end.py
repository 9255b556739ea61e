"""End to end with PostgreSQL, Redis and real Celery workers (acceptance 1 and 6).

1. Deploys, metrics and drifting samples go in through the API; the worker computes the drift report,
   evaluates the rules, waits group_wait, and a receiver on 127.0.0.1 gets one signed notification
   within group_wait plus one beat interval of the alert opening.
2. A worker killed while its delivery is in flight: the row stays claimed, the sweep hands it to the
   next try after the lease, and it is recorded delivered once, with the same webhook-id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from alerts import payloads, services
from alerts.models import Alert, Channel, Delivery
from alerts.services.channels import channel_payload
from alerts.services.delivery import DELIVERY_LEASE
from alerts.services.grouping import alerts_page_url
from alerts.tasks import delivery_send
from tests.helpers import wait_until
from tests.receiver import Receiver, Reply
from tracker import signing

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def samples(version: str, seed: int, shift: float) -> str:
    """`shift` moves amount and the country mix: 2 of the 3 judged columns drift (the prediction does not)."""
    gen = np.random.default_rng(seed)
    n = 1500
    countries = [0.2, 0.3, 0.5] if shift else [1 / 3] * 3
    return json.dumps(
        {
            "service": "fraud-scorer",
            "environment": "production",
            "deploy": version,
            "columns": {
                "amount": gen.normal(50 + shift, 10, n).round(3).tolist(),
                "country": gen.choice(["DE", "FR", "IT"], n, p=countries).tolist(),
            },
            "prediction": gen.random(n).round(4).tolist(),
        }
    )


def metric_points(start: datetime, minutes: int, mean: float, seed: int) -> list[dict]:
    gen = np.random.default_rng(seed)
    return [
        {
            "service": "fraud-scorer",
            "environment": "production",
            "name": "latency_ms",
            "value": round(float(v), 3),
            "timestamp": (start + timedelta(seconds=20 * i)).isoformat(),
        }
        for i, v in enumerate(gen.normal(mean, 3, minutes * 3))
    ]


def test_a_drifting_deploy_reaches_the_receiver_within_group_wait_plus_one_beat(api, celery_worker_process):
    with Receiver() as receiver:
        created = api.post(
            "/api/v1/channels", {"name": "on-call", "kind": "webhook", "url": receiver.url()}, format="json"
        )
        assert created.status_code == 201, created.content
        secret = created.json()["signing_secret"]
        start = datetime.now(UTC) - timedelta(minutes=40)
        for version, finished in (("1.0", start), ("1.1", start + timedelta(minutes=20))):
            body = {"service": "fraud-scorer", "environment": "production", "version": version}
            deployed = api.post("/api/v1/deploys", {**body, "finished_at": finished.isoformat()}, format="json")
            assert deployed.status_code == 201
        current_id = deployed.json()["id"]
        points = metric_points(start, 18, 100.0, 1) + metric_points(start + timedelta(minutes=21), 18, 101.0, 2)
        posted = api.post("/api/v1/metrics", json.dumps({"points": points}), content_type="application/json")
        assert posted.status_code == 202, posted.content
        for version, seed, shift in (("1.0", 1, 0.0), ("1.1", 2, 8.0)):
            posted = api.post("/api/v1/predictions", samples(version, seed, shift), content_type="application/json")
            assert posted.status_code == 202, posted.content

        alert = wait_until(
            lambda: Alert.objects.filter(deploy_id=current_id, rule_key="drift-share").first(), timeout=90
        )
        opened = alert.started_at.timestamp()
        budget = settings.ALERT_GROUP_WAIT_SECONDS + settings.CELERY_BEAT_SCHEDULE["alerts-sweep"]["schedule"]

        def notified():
            return [r for r in receiver.requests if alert.fingerprint in r.body.decode()]

        [request] = wait_until(notified, timeout=budget + 15)
    delay = request.received_at - opened
    print(f"alert opened → receiver: {delay:.1f} s (budget group_wait + one beat = {budget:.0f} s)")
    assert settings.ALERT_GROUP_WAIT_SECONDS - 1 <= delay <= budget
    body = json.loads(request.body)
    assert (
        signing.verify([secret], request.headers, request.body)
        == Delivery.objects.get(channel__name="on-call", alert_ids__contains=[alert.pk]).message_id
    )
    assert body["type"] == "alert.firing" and body["deploy"]["id"] == str(current_id)
    drift_share = next(a for a in body["alerts"] if a["rule"] == "drift-share")
    assert drift_share["numbers"]["drifted"] == ["amount", "country"]


def _start_worker(queue: str, log_path: Path) -> subprocess.Popen:
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}",
        "DB_CONN_MAX_AGE": "0",
    }
    log = open(log_path, "w")  # noqa: SIM115 - closed with the worker
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tracker", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "-Q", queue, "-n", f"doomed-{os.getpid()}@%h"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until(lambda: "ready." in log_path.read_text() or worker.poll() is not None, timeout=60)
    assert worker.poll() is None, log_path.read_text()[-2000:]
    return worker


def test_a_worker_killed_mid_delivery_is_covered_by_the_sweep_once(project):
    from tracker.celery import app

    app.conf.task_always_eager = False  # this test's own worker takes the task (conftest restores the flag)
    (ROOT / "var").mkdir(exist_ok=True)
    queue = f"alerts-kill-{os.getpid()}"
    with Receiver([Reply(200, b"too late", delay=20)]) as receiver:
        channel, secret = services.channel_create(project=project, name="hook", kind="webhook", url=receiver.url())
        message = payloads.Message(
            project="alpha", service="fraud-scorer", environment="production", group_key="dt-kill",
            reason="firing", event_action="trigger", alerts_url=alerts_page_url("alpha"), sent_at=timezone.now(),
        )  # fmt: skip
        delivery = Delivery.objects.create(
            project=project,
            channel=channel,
            reason="firing",
            event_action="trigger",
            payload=channel_payload(channel, message),
            next_attempt_at=timezone.now(),
        )
        worker = _start_worker(queue, ROOT / "var" / "test-worker-doomed.log")
        try:
            delivery_send.apply_async(args=[delivery.pk], queue=queue)
            wait_until(lambda: receiver.requests, timeout=30)  # the request is in flight, unanswered
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("sending", 0)
        # Before the lease runs out the sweep leaves the row alone (the worker might still answer).
        assert services.deliveries_due(now=timezone.now()) == []
        later = delivery.claimed_at + DELIVERY_LEASE + timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS + 1)
        due = services.deliveries_due(now=later)
        assert due == [delivery.pk]
        receiver.default = Reply(200, b"ok")
        for delivery_id in due + due:  # a duplicated message: the claim lets exactly one through
            services.delivery_attempt(delivery_id=delivery_id, now=later)
        time.sleep(0.2)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert len(receiver.requests) == 2
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery.message_id}
    assert all(signing.verify([secret], r.headers, r.body) for r in receiver.requests[1:])
    assert Channel.objects.get(pk=channel.pk).enabled
