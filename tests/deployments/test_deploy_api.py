from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from deployments.models import Deploy, Service
from tests.helpers import client_for, error_code
from tracker import signing
from tracker.services import signing_secret_issue

URL = "/api/v1/deploys"
EVENT = {
    "service": "fraud-scorer",
    "environment": "production",
    "version": "2026.11.3",
    "status": "succeeded",
    "external_id": "gha-run-8812-attempt-1",
    "commit_sha": "9f2c3a1b7d",
    "ref": "main",
    "author": "dana",
    "ci_url": "https://ci.example/run/8812",
    "commit_timestamp": "2026-11-28T09:12:00Z",
    "model": {
        "name": "fraud-gbm",
        "version": "41",
        "uri": "models:/fraud-gbm/41",
        "run_id": "abc",
        "digest": "sha256:1",
    },
    "data_version": "features-2026-11-27",
    "params": {"max_depth": 6},
    "strategy": "canary",
    "traffic_percent": 10,
    "changelog": "Retrain",
    "expected_drift": ["income"],
}


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def test_it_records_a_deploy_and_answers_with_its_page_and_baseline(api, project):
    response = post(api, EVENT)
    assert response.status_code == 201, response.content
    body = response.json()
    deploy = Deploy.objects.get(pk=body["id"])
    assert body["url"].endswith(f"/alpha/deploys/{deploy.pk}/")
    assert body["baseline"] is None
    assert body["model"] == EVENT["model"]
    assert deploy.service.name == "fraud-scorer" and deploy.environment.is_production
    assert deploy.expected_drift == ["income"]


def test_the_same_external_id_updates_the_same_deploy_through_its_statuses(api, project):
    for status in ("pending", "in_progress", "succeeded"):
        response = post(api, {**EVENT, "status": status})
        assert response.status_code in (200, 201)
    assert Deploy.objects.count() == 1
    assert Deploy.objects.get().status == "succeeded"


def test_it_refuses_a_status_moving_backwards(api, project):
    post(api, EVENT)
    response = post(api, {**EVENT, "status": "in_progress"})
    assert response.status_code == 409
    assert error_code(response) == "invalid_transition"
    assert Deploy.objects.get().status == "succeeded"


def test_a_later_deploy_links_the_previous_succeeded_one_as_baseline(api, project, django_capture_on_commit_callbacks):
    first = post(api, {**EVENT, "external_id": "a", "finished_at": "2026-11-20T10:00:00Z"}).json()
    post(api, {**EVENT, "external_id": "f", "version": "x", "status": "failed", "finished_at": "2026-11-21T10:00:00Z"})
    with django_capture_on_commit_callbacks(execute=True):
        second = post(
            api,
            {
                **EVENT,
                "external_id": "b",
                "version": "2026.11.4",
                "params": {"max_depth": 8},
                "finished_at": "2026-11-22T10:00:00Z",
            },
        ).json()
    assert second["baseline"]["id"] == first["id"]
    changes = Deploy.objects.get(pk=second["id"]).changes
    assert changes["changed_fields"] == ["version"]
    assert changes["params"]["changed"] == {"max_depth": {"before": 6, "after": 8}}


def test_a_rollback_deploy_marks_the_deploys_in_between_rolled_back(api, project):
    times = ["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z", "2026-11-23T10:00:00Z"]
    ids = []
    for n, (version, at) in enumerate(zip(["1.0", "1.1", "1.2", "1.0"], times, strict=True)):
        body = {**EVENT, "external_id": f"e{n}", "version": version, "commit_sha": f"abcdef{n}", "finished_at": at}
        ids.append(post(api, body).json()["id"])
    statuses = dict(Deploy.objects.values_list("id", "status"))
    assert [statuses[i] for i in ids] == ["succeeded", "rolled_back", "rolled_back", "succeeded"]
    rollback = Deploy.objects.get(pk=ids[3])
    assert rollback.is_rollback and rollback.baseline_id == ids[0]
    assert set(rollback.rolled_back_deploys.values_list("id", flat=True)) == {ids[1], ids[2]}


def test_an_idempotency_key_replays_the_answer_and_refuses_another_body(api, project):
    body = {k: v for k, v in EVENT.items() if k != "external_id"}
    first = post(api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = post(api, {**body, "version": "9.9"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and error_code(other) == "idempotency_key_reused"
    assert Deploy.objects.count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_event_make_one_deploy(token, project):
    results = []

    def send():
        try:
            results.append(post(client_for(token), EVENT).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 5 + [201]
    assert Deploy.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service": None}, "service"),
        ({"version": ""}, "version"),
        ({"status": "exploded"}, "status"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"commit_sha": "not-a-sha"}, "commit_sha"),
        ({"version": "v" * 101}, "version"),
        ({"changelog": "x" * 20_001}, "changelog"),
        ({"traffic_percent": 150}, "traffic_percent"),
        ({"model": {"name": "m", "colour": "red"}}, "model"),
        ({"surprise": 1}, "surprise"),
        ({"params": [1, 2]}, "params"),
        ({"service": "has spaces"}, "service"),
        ({"started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T09:00:00Z"}, "finished_at"),
    ],
)
def test_it_refuses_invalid_fields_and_stores_nothing(api, project, change, field):
    body = {**EVENT, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = post(api, body)
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid"
    assert field in response.json()["error"]["fields"]
    assert Deploy.objects.count() == 0 and Service.objects.count() == 0


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"HTTP_AUTHORIZATION": "Bearer dtk_nope"}, 401, "invalid_token"),
        ({"HTTP_AUTHORIZATION": "Basic abc"}, 401, "invalid_token"),
    ],
)
def test_it_refuses_missing_or_invalid_tokens(project, headers, status, code):
    response = post(client_for(None), EVENT, **headers)
    assert response.status_code == status
    assert error_code(response) == code
    assert Deploy.objects.count() == 0


def test_it_refuses_a_token_without_the_ingest_scope(project, make_token):
    response = post(client_for(make_token(project, ["read"])), EVENT)
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"
    assert Deploy.objects.count() == 0


def test_it_refuses_a_revoked_token(project, make_token):
    from tracker.models import ApiToken
    from tracker.services import token_revoke

    raw = make_token(project, ["ingest"])
    token_revoke(token=ApiToken.objects.get(project=project))
    assert post(client_for(raw), EVENT).status_code == 401


def test_it_refuses_malformed_json_and_other_media_types(api, project):
    response = api.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "malformed_body"
    response = api.post(URL, data="service=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and error_code(response) == "unsupported_media_type"
    response = api.post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert Deploy.objects.count() == 0


def test_it_refuses_a_body_over_the_size_limit(api, project, settings):
    response = post(api, {**EVENT, "changelog": "x" * (settings.MAX_BODY_BYTES + 10)})
    assert response.status_code == 413 and error_code(response) == "body_too_large"
    assert Deploy.objects.count() == 0


def signed(secret, body, msg_id="msg_1", ts=None):
    raw = json.dumps(body).encode()
    headers = signing.sign_headers(secret, msg_id, raw, now=ts)
    return raw, {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


def test_a_signed_deploy_is_accepted_and_its_replay_refused(api, project):
    secret = signing_secret_issue(project=project, require=True)
    raw, headers = signed(secret, EVENT)
    assert api.post(URL, data=raw, content_type="application/json", **headers).status_code == 201
    replay = api.post(URL, data=raw, content_type="application/json", **headers)
    assert replay.status_code == 409 and error_code(replay) == "webhook_replayed"
    assert Deploy.objects.count() == 1


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h: {**h, "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}, "signature_invalid"),
        (lambda h: {**h, "HTTP_WEBHOOK_SIGNATURE": "garbage"}, "signature_invalid"),
        (lambda h: {**h, "HTTP_WEBHOOK_TIMESTAMP": "abc"}, "signature_malformed"),
        (lambda h: {**h, "HTTP_WEBHOOK_TIMESTAMP": str(int(time.time()) - 3600)}, "signature_stale"),
        (lambda h: {k: v for k, v in h.items() if k != "HTTP_WEBHOOK_ID"}, "signature_missing"),
        (lambda h: {}, "signature_required"),
    ],
)
def test_it_refuses_bad_signatures_when_signing_is_required(api, project, mutate, code):
    secret = signing_secret_issue(project=project, require=True)
    raw, headers = signed(secret, EVENT)
    response = api.post(URL, data=raw, content_type="application/json", **mutate(headers))
    assert response.status_code == 401 and error_code(response) == code
    assert Deploy.objects.count() == 0


def test_a_signature_over_another_body_is_refused(api, project):
    secret = signing_secret_issue(project=project)
    _, headers = signed(secret, EVENT)
    tampered = json.dumps({**EVENT, "version": "evil"}).encode()
    response = api.post(URL, data=tampered, content_type="application/json", **headers)
    assert response.status_code == 401 and error_code(response) == "signature_invalid"


def test_list_filters_and_paginates_with_a_cursor(api, project):
    for n in range(5):
        post(
            api,
            {
                **EVENT,
                "external_id": f"l{n}",
                "version": f"1.{n}",
                "environment": "staging" if n % 2 else "production",
                "finished_at": f"2026-11-2{n}T10:00:00Z",
            },
        )
    page = api.get(URL, {"environment": "production", "limit": 2}).json()
    assert [d["version"] for d in page["results"]] == ["1.4", "1.2"]
    rest = api.get(page["next"]).json()
    assert [d["version"] for d in rest["results"]] == ["1.0"]
    assert api.get(URL, {"since": "2026-11-23T00:00:00Z"}).json()["results"][0]["version"] == "1.4"
    bad = api.get(URL, {"since": "soon"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


def test_a_refused_query_names_its_parameters_not_a_request_body(api, project):
    one = api.get(URL, {"since": "soon"}).json()["error"]
    assert one["message"] == "query parameter 'since' is not valid" and set(one["fields"]) == {"since"}
    two = api.get(URL, {"limit": 0, "status": "sideways"}).json()["error"]
    assert two["message"] == "query parameters 'limit', 'status' are not valid"
    assert api.get(URL, {"colour": "red"}).json()["error"]["message"] == "query parameter 'colour' is not valid"
    # A body is still a body.
    body = post(api, {**EVENT, "version": ""}).json()["error"]
    assert body["message"] == "the request body is not valid"


def test_another_projects_token_gets_404_on_a_deploy(api, other_api, project):
    deploy_id = post(api, EVENT).json()["id"]
    response = other_api.get(f"{URL}/{deploy_id}")
    assert response.status_code == 404 and error_code(response) == "not_found"
    assert other_api.get(URL).json()["results"] == []


@pytest.mark.parametrize("msg_id", ["msg.1", "msg_1.1614265330", ".", "msg 1", "msg\t1"])
def test_a_webhook_id_the_standard_forbids_is_a_401_even_when_correctly_signed(api, project, msg_id):
    """Standard Webhooks signs "{id}.{timestamp}.{body}": an id with "." makes the split ambiguous, so the
    spec forbids it. Signed here by the reference library, so the signature itself is valid."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    secret = signing_secret_issue(project=project, require=True)
    raw = json.dumps(EVENT)
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, now, raw),
    }
    response = api.post(URL, data=raw.encode(), content_type="application/json", **headers)
    assert response.status_code == 401 and error_code(response) == "signature_malformed"
    assert Deploy.objects.count() == 0


@pytest.mark.parametrize("timestamp", ["\u00b2", "1\u00b9", "١٦١٤٢٦٥٣٣٠", "+1614265330", " 1614265330"])
def test_a_timestamp_that_is_not_ascii_digits_is_a_401_never_a_500(api, project, timestamp):
    secret = signing_secret_issue(project=project, require=True)
    raw, headers = signed(secret, EVENT)
    headers["HTTP_WEBHOOK_TIMESTAMP"] = timestamp
    response = api.post(URL, data=raw, content_type="application/json", **headers)
    assert response.status_code == 401 and error_code(response) == "signature_malformed"
