"""Two people at once (or a double click) make one rollback request: the database constraint decides."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_request_create
from tests.helpers import client_for, error_code
from tests.rollbacks.rollback_world import canary_pair, endpoint, history
from tracker.errors import Conflict

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    """Run the calls in threads released by one barrier; each thread closes its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_two_concurrent_posts_make_one_request(project, token, round_):
    world, _ = history(project), endpoint(project)
    url = f"/api/v1/deploys/{world.v3.pk}/rollback"
    responses = run_together(*(lambda: client_for(token).post(url, {}, format="json") for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [201, 409], [r.content for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert error_code(loser) == "rollback_already_open"
    assert RollbackRequest.objects.count() == 1


def test_the_unique_constraint_holds_when_the_first_transaction_is_still_open(project):
    """The second INSERT waits on the first's uncommitted row, then fails: no application check can race."""
    world, _ = history(project), endpoint(project)
    first_inserted, release_first = threading.Event(), threading.Event()
    outcome: dict = {}

    def first():
        with transaction.atomic():
            rollback_request_create(deploy=world.v3, target=world.v2)
            first_inserted.set()
            release_first.wait(10)
        connection.close()

    def second():
        first_inserted.wait(10)
        try:
            rollback_request_create(deploy=world.v3, target=world.v1)
        except Conflict as exc:
            outcome["code"] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    threads[1].join(timeout=1.5)
    assert threads[1].is_alive(), "the second insert should be waiting on the first transaction's row"
    release_first.set()
    for thread in threads:
        thread.join(timeout=20)
    assert outcome == {"code": "rollback_already_open"}
    assert list(RollbackRequest.objects.values_list("target_id", flat=True)) == [world.v2.pk]


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_promotes_make_one_promotion_and_a_rollback_beside_it_is_not_blocked(project, token, round_):
    pair, _ = canary_pair(project), endpoint(project)
    promote = f"/api/v1/deploys/{pair.challenger.pk}/promote"
    rollback = f"/api/v1/deploys/{pair.challenger.pk}/rollback"
    calls = [lambda: client_for(token).post(promote, {}, format="json") for _ in range(2)]
    responses = run_together(*calls, lambda: client_for(token).post(rollback, {}, format="json"))
    assert sorted(r.status_code for r in responses[:2]) == [201, 409], [r.content for r in responses]
    assert error_code(next(r for r in responses[:2] if r.status_code == 409)) == "promotion_already_open"
    assert responses[2].status_code == 201
    assert sorted(RollbackRequest.objects.values_list("kind", flat=True)) == ["promotion", "rollback"]
