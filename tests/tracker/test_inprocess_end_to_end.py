"""The in-process mode end to end (issue 9, acceptance 5): gunicorn with two workers, no broker, no beat.

The server runs with REDIS_URL and CELERY_BROKER_URL empty on its own SQLite file under a temp dir, so tasks
run inside the web process and only tracker/inprocess.py's sweep thread can flush an alert group after
group_wait, retry a failed delivery or rollback send, or expire a rollback request. Everything goes in over
HTTP (deploys, prediction samples, channels, the rollback endpoint, the rollback request), the drift report
and the alert come from the real engine, and the receiver is a real socket on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import wait_until
from tests.receiver import Receiver, Reply
from tracker import signing

ROOT = Path(__file__).resolve().parents[2]
GROUP_WAIT = 2
SWEEP = 1


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def project(self, slug: str) -> str:
        """A new project and a token with every scope, made the way the README says."""
        self.manage("create_project", slug)
        return self.manage("issue_token", slug, "--scopes", "ingest,read,rollback,admin").strip().splitlines()[-1]

    def call(self, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    var = tmp_path_factory.mktemp("inprocess")
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "inprocess-test-only",
        "DATABASE_URL": f"sqlite:///{var / 'tracker.sqlite3'}",
        "VAR_DIR": str(var),
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "OUTBOUND_ALLOW_HTTP": "1",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "ALERT_GROUP_WAIT_SECONDS": str(GROUP_WAIT),
        "ALERT_SWEEP_SECONDS": str(SWEEP),
        "ALERT_RETRY_BASE_SECONDS": "1",
        "ROLLBACK_SWEEP_SECONDS": str(SWEEP),
        "ROLLBACK_RETRY_BASE_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("ALERT_SWEEP_GRACE_SECONDS", "INPROCESS_SWEEPS"):
        env.pop(name, None)  # the mode's own defaults
    Server("", env, var).manage("migrate", "--noinput", "-v0")
    log = var / "gunicorn.log"
    with open(log, "w") as out:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tracker.wsgi", "--bind", "127.0.0.1:0", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        found = wait_until(lambda: re.search(r"Listening at: (http://\S+)", log.read_text()), timeout=60)
        server = Server(found.group(1), env, log)
        wait_until(lambda: server.call("", "GET", "/healthz")[0] == 200, timeout=60)
        yield server
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def samples(version: str, seed: int, shift: float) -> dict:
    gen = np.random.default_rng(seed)
    n = 1500
    return {
        "service": "fraud-scorer",
        "environment": "production",
        "deploy": version,
        "columns": {"amount": gen.normal(50 + shift, 10, n).round(3).tolist()},
        "prediction": gen.random(n).round(4).tolist(),
    }


def drifted_deploy(server: Server, token: str) -> int:
    """A baseline and a deploy whose `amount` input moved by 0.8 standard deviations."""
    start = datetime.now().astimezone() - timedelta(minutes=40)
    for version, finished in (("1.0", start), ("1.1", start + timedelta(minutes=20))):
        body = {"service": "fraud-scorer", "environment": "production", "version": version}
        status, deployed = server.call(token, "POST", "/api/v1/deploys", {**body, "finished_at": finished.isoformat()})
        assert status == 201, deployed
    for version, seed, shift in (("1.0", 1, 0.0), ("1.1", 2, 8.0)):
        status, posted = server.call(token, "POST", "/api/v1/predictions", samples(version, seed, shift))
        assert status == 202, posted
    return deployed["id"]


def channel(server: Server, token: str, url: str) -> str:
    status, created = server.call(token, "POST", "/api/v1/channels", {"name": "on-call", "kind": "webhook", "url": url})
    assert status == 201, created
    return created["signing_secret"]


def drift_alert(server: Server, token: str, deploy_id: int) -> dict:
    def found() -> dict | None:
        alerts = server.call(token, "GET", f"/api/v1/alerts?deploy={deploy_id}")[1]["results"]
        return next((a for a in alerts if a["rule"] == "drift-share"), None)

    return wait_until(found, timeout=30)


def test_a_drifted_deploys_alert_reaches_the_receiver_within_group_wait_plus_one_sweep(server):
    token = server.project("inprocess-alert")
    with Receiver() as receiver:
        secret = channel(server, token, receiver.url())
        deploy_id = drifted_deploy(server, token)
        alert = drift_alert(server, token, deploy_id)
        [request] = wait_until(lambda: receiver.requests, timeout=GROUP_WAIT + SWEEP + 15)
    delay = request.received_at - datetime.fromisoformat(alert["started_at"]).timestamp()
    print(f"alert opened → receiver: {delay:.2f} s (group_wait {GROUP_WAIT} s + one sweep {SWEEP} s)")
    assert GROUP_WAIT - 0.5 <= delay <= GROUP_WAIT + SWEEP + 0.5
    assert signing.verify([secret], request.headers, request.body)
    body = json.loads(request.body)
    assert body["type"] == "alert.firing" and body["deploy"]["id"] == str(deploy_id)
    assert next(a for a in body["alerts"] if a["rule"] == "drift-share")["numbers"]["drifted"] == ["amount"]


def test_a_failed_delivery_is_retried_by_the_sweep_until_it_succeeds(server):
    token = server.project("inprocess-retry")
    with Receiver([Reply(500, b"down"), Reply(500, b"still down")]) as receiver:
        secret = channel(server, token, receiver.url())
        drift_alert(server, token, drifted_deploy(server, token))
        requests = receiver.wait_for(3, timeout=GROUP_WAIT + SWEEP + 30)
        time.sleep(2 * SWEEP)  # no further try after the success
    assert len(requests) == 3, [r.body for r in requests]
    # The same delivery each time: one webhook-id, tries spaced by the backoff (base 1 s, then 2 s, with jitter).
    assert len({signing.verify([secret], r.headers, r.body) for r in requests}) == 1
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0, gaps


def test_a_rollback_send_is_retried_and_an_overdue_request_expires(server):
    token = server.project("inprocess-rollback")
    with Receiver([Reply(500, b"busy")]) as receiver:
        status, _ = server.call(
            token, "PUT", "/api/v1/rollback-endpoint", {"url": receiver.url("/rollback"), "format": "generic"}
        )
        assert status == 200
        ids = []
        for version in ("1", "2"):
            body = {"service": "api", "environment": "prod", "version": version}
            ids.append(server.call(token, "POST", "/api/v1/deploys", body)[1]["id"])
        status, rollback = server.call(token, "POST", f"/api/v1/deploys/{ids[1]}/rollback", {"target_id": ids[0]})
        assert status == 201, rollback
        path = f"/api/v1/rollbacks/{rollback['id']}"
        wait_until(lambda: server.call(token, "GET", path)[1]["state"] == "dispatched", timeout=30)
    assert [r.path for r in receiver.requests] == ["/rollback", "/rollback"]
    # CI never reports back: move the deadline into the past and let the sweep thread expire it.
    overdue = (
        "from datetime import timedelta; from django.utils import timezone;"
        "from rollbacks.models import RollbackRequest;"
        f"RollbackRequest.objects.filter(pk='{rollback['id']}')"
        ".update(expires_at=timezone.now() - timedelta(seconds=1))"
    )
    server.manage("shell", "-c", overdue)
    final = wait_until(lambda: (r := server.call(token, "GET", path)[1])["state"] == "expired" and r, timeout=10)
    assert [a["status_code"] for a in final["attempts"]] == [500, 200]


def sweep_pids(server: Server, what: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"process (\d+) {what}", server.log.read_text())]


def test_one_gunicorn_worker_runs_the_sweeps_and_another_takes_over_when_it_dies(server):
    """Last in this module: it kills a worker (gunicorn starts a new one)."""

    def both_workers_started_their_thread() -> bool:
        with ThreadPoolExecutor(8) as pool:  # concurrent requests reach both workers
            list(pool.map(lambda _: server.call("", "GET", "/healthz"), range(16)))
        return bool(sweep_pids(server, "waits for the lock"))

    wait_until(both_workers_started_their_thread, timeout=30, interval=0.1)
    [holder], [waiter] = sweep_pids(server, "runs the beat schedule"), sweep_pids(server, "waits for the lock")
    assert holder != waiter
    os.kill(holder, signal.SIGKILL)
    # The waiter retries every LOCK_RETRY_SECONDS and takes the lock over.
    wait_until(lambda: len(sweep_pids(server, "runs the beat schedule")) == 2, timeout=15)
    assert sweep_pids(server, "runs the beat schedule") == [holder, waiter]
