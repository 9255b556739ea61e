"""End to end with Redis and a real Celery worker: request → dispatch → CI callback → completed by deploy,
and a receiver that is down for the first tries gets the request later, by retry, exactly once."""

from __future__ import annotations

import json
import socket
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from rollbacks.models import RollbackRequest
from tests.helpers import client_for, wait_until
from tests.receiver import Receiver
from tests.rollbacks.rollback_world import SECRET, canary_pair, endpoint, history
from tracker import signing

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class ReceiverOnPort(Receiver):
    """The shared receiver, bound to a chosen port (to come up where a dead one was)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.server.server_close()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_request_is_dispatched_reported_on_and_completed_by_the_target_deploy(celery_worker_process, project, token):
    world = history(project)
    api = client_for(token)
    with Receiver() as receiver:
        endpoint(project, url=receiver.url("/rollback"))
        created = api.post(f"/api/v1/deploys/{world.v3.pk}/rollback", {"reason": "errors"}, format="json")
        assert created.status_code == 201
        rollback_id = created.json()["id"]
        [sent] = receiver.wait_for(1, timeout=30)
    assert signing.verify([SECRET], sent.headers, sent.body) == rollback_id
    body = json.loads(sent.body)
    wait_until(lambda: RollbackRequest.objects.get(pk=rollback_id).state == "dispatched", timeout=30)

    ci = client_for(body["callback"]["token"])
    status_url = f"/api/v1/rollbacks/{rollback_id}/status"
    assert ci.post(status_url, {"status": "accepted"}, format="json").json()["rollback"]["state"] == "accepted"
    assert ci.post(status_url, {"status": "running"}, format="json").json()["rollback"]["state"] == "running"
    deployed = api.post(
        "/api/v1/deploys",
        {
            "service": "fraud-scorer",
            "environment": "production",
            "version": body["target"]["version"],
            "commit_sha": body["target"]["commit_sha"],
            "status": "succeeded",
        },
        format="json",
    )
    assert deployed.status_code == 201
    final = api.get(f"/api/v1/rollbacks/{rollback_id}").json()
    assert final["state"] == "succeeded" and final["completed_by"] == deployed.json()["id"]
    assert [c["status"] for c in final["callbacks"]] == ["accepted", "running"]
    assert len(receiver.requests) == 1


def test_a_receiver_down_for_the_first_tries_gets_the_request_later_by_retry(celery_worker_process, project, token):
    world = history(project)
    port = free_port()
    endpoint(project, url=f"http://127.0.0.1:{port}/rollback")
    created = client_for(token).post(f"/api/v1/deploys/{world.v3.pk}/rollback", {}, format="json")
    rollback_id = created.json()["id"]
    # Nothing listens yet: the worker's first tries are refused and it schedules retries.
    wait_until(lambda: RollbackRequest.objects.get(pk=rollback_id).attempts.count() >= 2, timeout=30)
    assert RollbackRequest.objects.get(pk=rollback_id).state == "requested"
    with ReceiverOnPort(port) as receiver:
        [sent] = receiver.wait_for(1, timeout=30)
        wait_until(lambda: RollbackRequest.objects.get(pk=rollback_id).state == "dispatched", timeout=30)
    assert signing.verify([SECRET], sent.headers, sent.body) == rollback_id
    attempts = list(RollbackRequest.objects.get(pk=rollback_id).attempts.values_list("status_code", "error"))
    assert attempts[-1] == (200, "") and all(code is None and error for code, error in attempts[:-1])
    assert len(receiver.requests) == 1


def test_a_promotion_is_dispatched_by_the_worker_and_completed_by_cis_callback(celery_worker_process, project, token):
    pair = canary_pair(project, "healthy")
    api = client_for(token)
    assert api.get(f"/api/v1/deploys/{pair.challenger.pk}/verdict").json()["verdict"] == "promote"
    with Receiver() as receiver:
        endpoint(project, url=receiver.url("/release"))
        created = api.post(f"/api/v1/deploys/{pair.challenger.pk}/promote", {}, format="json")
        assert created.status_code == 201
        promotion_id = created.json()["id"]
        [sent] = receiver.wait_for(1, timeout=30)  # sent by the worker process
    assert signing.verify([SECRET], sent.headers, sent.body) == promotion_id
    body = json.loads(sent.body)
    assert body["type"] == "promotion.requested" and body["baseline"]["id"] == pair.champion.pk
    wait_until(lambda: RollbackRequest.objects.get(pk=promotion_id).state == "dispatched", timeout=30)
    ci = client_for(body["callback"]["token"])
    path = urlsplit(body["callback"]["url"]).path
    assert path == f"/api/v1/promotions/{promotion_id}/status"
    done = ci.post(path, {"status": "succeeded"}, format="json")
    assert done.status_code == 200 and done.json()["promotion"]["state"] == "succeeded"
    assert api.get(f"/api/v1/promotions/{promotion_id}").json()["state"] == "succeeded"
    assert len(receiver.requests) == 1
