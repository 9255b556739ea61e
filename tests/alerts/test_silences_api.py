"""Silences API: Alertmanager's v2 body, validated like the page, scoped, audited, isolated by project."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from alerts.models import Silence
from tests.helpers import client_for, error_code
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def in_hours(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def body(**overrides) -> dict:
    """What amtool-style scripts post to Alertmanager's /api/v2/silences, minus createdBy (the token's name)."""
    return {
        "matchers": [
            {"name": "service", "value": "fraud-scorer", "isRegex": False, "isEqual": True},
            {"name": "rule", "value": "drift-.*", "isRegex": True},
        ],
        "endsAt": in_hours(2),
        "comment": "retraining the model",
        **overrides,
    }


@pytest.fixture
def on_call(project, make_token):
    from tracker.services import token_issue

    _, raw = token_issue(project=project, name="pagerduty-runbook", scopes=["rollback"])
    return client_for(raw)


def test_an_on_call_token_creates_a_silence_in_alertmanagers_shape(on_call, project) -> None:
    response = on_call.post("/api/v1/silences", body(), format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    silence = Silence.objects.get(project=project)
    assert answer["id"] == silence.pk
    assert answer["status"] == {"state": "active"}
    assert answer["matchers"] == [
        {"name": "service", "value": "fraud-scorer", "isRegex": False, "isEqual": True},
        {"name": "rule", "value": "drift-.*", "isRegex": True, "isEqual": True},
    ]
    assert answer["createdBy"] == "pagerduty-runbook"
    assert answer["comment"] == "retraining the model"
    assert set(answer) == {"id", "status", "matchers", "startsAt", "endsAt", "createdBy", "comment", "updatedAt"}
    assert silence.matchers == [
        {"name": "service", "op": "=", "value": "fraud-scorer"},
        {"name": "rule", "op": "=~", "value": "drift-.*"},
    ]
    entry = AuditLog.objects.get(project=project, action="silence.created")
    assert entry.actor_token.name == "pagerduty-runbook"
    assert entry.details["matchers"] == ["service=fraud-scorer", "rule=~drift-.*"]


def test_the_silence_mutes_what_its_matchers_say(on_call) -> None:
    negated = {"name": "environment", "value": "stag.*", "isRegex": True, "isEqual": False}
    on_call.post("/api/v1/silences", body(matchers=[*body()["matchers"], negated]), format="json")
    silence = Silence.objects.get().as_engine()
    now = timezone.now()
    labels = {"service": "fraud-scorer", "rule": "drift-share", "environment": "production"}
    assert silence.mutes(labels, now)
    assert not silence.mutes({**labels, "environment": "staging"}, now)
    assert not silence.mutes({**labels, "service": "fraud-scorer-2"}, now)


def test_a_pending_silence_starts_later_and_one_starting_in_the_past_starts_now(on_call) -> None:
    pending = on_call.post("/api/v1/silences", body(startsAt=in_hours(1)), format="json").json()
    assert pending["status"] == {"state": "pending"}
    backdated = on_call.post("/api/v1/silences", body(startsAt=in_hours(-48)), format="json")
    assert backdated.status_code == 201
    assert Silence.objects.get(pk=backdated.json()["id"]).starts_at > timezone.now() - timedelta(minutes=1)


def test_an_admin_token_may_silence_too(project, make_token) -> None:
    admin = client_for(make_token(project, ["admin"]))
    assert admin.post("/api/v1/silences", body(), format="json").status_code == 201
    assert admin.get("/api/v1/silences").status_code == 200


@pytest.mark.parametrize("scopes", [["read"], ["ingest"], ["read", "ingest"]])
def test_tokens_without_rollback_or_admin_scope_are_refused_and_change_nothing(project, make_token, scopes) -> None:
    from alerts.services import silence_create

    silence = silence_create(project=project, matchers=["service=x"], ends_at=timezone.now() + timedelta(hours=1))
    client = client_for(make_token(project, scopes))
    for response in (
        client.get("/api/v1/silences"),
        client.post("/api/v1/silences", body(), format="json"),
        client.delete(f"/api/v1/silences/{silence.pk}"),
    ):
        assert response.status_code == 403
        assert error_code(response) == "insufficient_scope"
        assert "'rollback' or 'admin'" in response.json()["error"]["message"]
    assert Silence.objects.count() == 1
    silence.refresh_from_db()
    assert silence.ends_at > timezone.now()


def test_no_token_is_a_401(client) -> None:
    assert client.post("/api/v1/silences", body(), content_type="application/json").status_code == 401


BAD_BODIES = {
    "backreference": (body(matchers=[{"name": "rule", "value": r"(a)\1", "isRegex": True}]), "matchers"),
    "lookahead": (body(matchers=[{"name": "rule", "value": "(?=x).*", "isRegex": True}]), "matchers"),
    "pattern-too-long": (body(matchers=[{"name": "rule", "value": "x" * 1001, "isRegex": True}]), "matchers"),
    "bad-label-name": (body(matchers=[{"name": "9service", "value": "x", "isRegex": False}]), "matchers"),
    "mutes-everything": (body(matchers=[{"name": "service", "value": ".*", "isRegex": True}]), "matchers"),
    "no-matchers": (body(matchers=[]), "matchers"),
    "too-many-matchers": (
        body(matchers=[{"name": f"l{i}", "value": "x", "isRegex": False} for i in range(21)]),
        "matchers",
    ),
    "isRegex-missing": (body(matchers=[{"name": "service", "value": "x"}]), "matchers"),
    "unknown-matcher-field": (body(matchers=[{"name": "s", "value": "x", "isRegex": False, "op": "="}]), "matchers"),
    "ends-in-the-past": (body(endsAt=in_hours(-1)), "endsAt"),
    "ends-before-it-starts": (body(startsAt=in_hours(3), endsAt=in_hours(2)), "endsAt"),
    "longer-than-30-days": (body(endsAt=in_hours(31 * 24)), "endsAt"),
    "endsAt-missing": ({k: v for k, v in body().items() if k != "endsAt"}, "endsAt"),
    "endsAt-not-a-time": (body(endsAt="tomorrow"), "endsAt"),
    "comment-too-long": (body(comment="x" * 501), "comment"),
    "createdBy-is-the-tokens-name": (body(createdBy="someone else"), "createdBy"),
    "matchers-not-a-list": (body(matchers="service=x"), "matchers"),
}


@pytest.mark.parametrize(("payload", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_a_400_in_the_error_shape_and_stores_nothing(on_call, project, payload, field) -> None:
    response = on_call.post("/api/v1/silences", payload, format="json")
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid"
    assert field in response.json()["error"]["fields"], response.json()
    assert not Silence.objects.exists()
    assert not AuditLog.objects.filter(project=project, action="silence.created").exists()


def test_the_refusal_says_what_re2_objects_to(on_call) -> None:
    payload = body(
        matchers=[{"name": "service", "value": "x", "isRegex": False}, BAD_BODIES["backreference"][0]["matchers"][0]]
    )
    fields = on_call.post("/api/v1/silences", payload, format="json").json()["error"]["fields"]
    [message] = fields["matchers"]
    assert message.startswith("matcher 2: ") and "not a valid RE2 regular expression" in message, message
    assert "invalid escape sequence" in message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"matchers": [{"name": "service", "value": "\\ud800", "isRegex": false}], "endsAt": "2099-01-01T00:00:00Z"}',
        b'{"matchers": [',
        b"\xff\xfe",
    ],
    ids=["lone-surrogate", "truncated", "not-utf8"],
)
def test_a_body_that_is_not_text_or_not_json_is_a_400(on_call, raw) -> None:
    response = on_call.generic("POST", "/api/v1/silences", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert error_code(response) in ("invalid", "malformed_body")
    assert not Silence.objects.exists()


def test_the_catastrophic_pattern_is_accepted_because_re2_runs_it_in_linear_time(on_call) -> None:
    payload = body(matchers=[{"name": "service", "value": "(.*.*)*!", "isRegex": True}])
    assert on_call.post("/api/v1/silences", payload, format="json").status_code == 201
    silence = Silence.objects.get().as_engine()
    assert not silence.mutes({"service": "a" * 30}, timezone.now())


def test_it_lists_the_projects_silences_by_state(on_call, other_project) -> None:
    from alerts.services import silence_create

    on_call.post("/api/v1/silences", body(), format="json")
    on_call.post("/api/v1/silences", body(startsAt=in_hours(1)), format="json")
    ended = on_call.post("/api/v1/silences", body(comment="ended"), format="json").json()
    on_call.delete(f"/api/v1/silences/{ended['id']}")
    silence_create(project=other_project, matchers=["service=theirs"], ends_at=timezone.now() + timedelta(hours=1))

    everything = on_call.get("/api/v1/silences").json()["results"]
    assert len(everything) == 3
    assert sorted(s["status"]["state"] for s in everything) == ["active", "expired", "pending"]
    for state in ("active", "pending", "expired"):
        [one] = on_call.get(f"/api/v1/silences?state={state}").json()["results"]
        assert one["status"]["state"] == state
    assert on_call.get("/api/v1/silences?state=expired").json()["results"][0]["comment"] == "ended"
    refused = on_call.get("/api/v1/silences?state=muted")
    assert refused.status_code == 400 and error_code(refused) == "invalid"


def test_delete_expires_the_silence_once_and_audits_it(on_call, project) -> None:
    created = on_call.post("/api/v1/silences", body(startsAt=in_hours(1)), format="json").json()
    response = on_call.delete(f"/api/v1/silences/{created['id']}")
    assert response.status_code == 204
    silence = Silence.objects.get()
    assert silence.state(timezone.now()) == "expired"  # a pending silence never starts
    assert on_call.delete(f"/api/v1/silences/{created['id']}").status_code == 204
    assert AuditLog.objects.filter(project=project, action="silence.expired").count() == 1


def test_another_projects_silence_is_a_404_and_stays(on_call, other_api, project) -> None:
    created = on_call.post("/api/v1/silences", body(), format="json").json()
    response = other_api.delete(f"/api/v1/silences/{created['id']}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert Silence.objects.get().state(timezone.now()) == "active"
    assert other_api.get("/api/v1/silences").json()["results"] == []
    assert on_call.delete("/api/v1/silences/999999").status_code == 404


def test_the_schema_documents_alertmanagers_field_names(client) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operations = schema["paths"]["/api/v1/silences"]
    assert set(operations) >= {"get", "post"}
    assert "delete" in schema["paths"]["/api/v1/silences/{silence_id}"]
    schemas = schema["components"]["schemas"]
    request = schemas["SilenceInputRequest"]
    assert set(request["properties"]) == {"matchers", "startsAt", "endsAt", "comment"}
    assert set(request["required"]) == {"matchers", "endsAt"}
    matcher = schemas["SilenceMatcherRequest"]
    assert set(matcher["properties"]) == {"name", "value", "isRegex", "isEqual"}
    assert set(matcher["required"]) == {"name", "value", "isRegex"}
    answer = schemas["SilenceOutput"]
    assert set(answer["properties"]) == {
        "id",
        "status",
        "matchers",
        "startsAt",
        "endsAt",
        "createdBy",
        "comment",
        "updatedAt",
    }


def test_the_list_costs_the_same_queries_for_one_silence_or_many(on_call, bob, project) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.services import silence_create

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert on_call.get("/api/v1/silences").status_code == 200
        return len(captured)

    on_call.post("/api/v1/silences", body(), format="json")
    one = queries()
    for i in range(5):
        on_call.post("/api/v1/silences", body(comment=f"token {i}"), format="json")
        silence_create(
            project=project, matchers=[f"service=s{i}"], ends_at=timezone.now() + timedelta(hours=1), user=bob
        )
    assert queries() == one
