"""Every API URL and page that names an object, called by another project's token or user, is a 404.

Each app adds its object-bearing URLs to the matrices below; a URL pattern with an id that no matrix
covers fails `test_every_url_with_an_id_is_in_a_matrix`, so new endpoints cannot slip past.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from deployments.services import deploy_record
from tests.helpers import error_code


def make_deploy(project):
    deploy, _ = deploy_record(
        project=project,
        service="svc",
        environment="production",
        version="1.0",
        finished_at=timezone.now() - timedelta(hours=1),
    )
    return deploy


def make_service(project):
    # Service pages are addressed by name: the name fills {id}.
    return SimpleNamespace(pk=make_deploy(project).service.name)


def make_rollback(project):
    from rollbacks.services import rollback_request_create
    from tests.rollbacks.rollback_world import endpoint, history

    world, _ = history(project), endpoint(project)
    return rollback_request_create(deploy=world.v3)


def make_alert(project):
    from alerts.rules import ColumnFact, DeployFacts
    from alerts.services import alerts_evaluate_deploy

    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alerts_evaluate_deploy(deploy=make_deploy(project), facts=DeployFacts(columns, has_drift_report=True))
    return alert


def make_channel(project):
    from alerts.services import channel_create

    return channel_create(project=project, name="hook", kind="webhook", url="https://93.184.215.14/hook")[0]


def make_rule(project):
    return project.alert_rules.first()


def make_silence(project):
    from alerts.services import silence_create

    return silence_create(project=project, matchers=["service=svc"], ends_at=timezone.now() + timedelta(hours=1))


def make_token_object(project):
    from tracker.services import token_issue

    return token_issue(project=project, name="ci", scopes=["read"])[0]


def make_signing_secret(project):
    from tracker.services import signing_secret_issue

    signing_secret_issue(project=project)
    return project.signing_secrets.get()


# name → factory(project) returning an object of that project whose pk fills {id}.
OBJECTS: dict[str, Callable] = {
    "deploy": make_deploy,
    "token": make_token_object,
    "signing_secret": make_signing_secret,
    "rollback": make_rollback,
    "alert": make_alert,
    "channel": make_channel,
    "rule": make_rule,
    "silence": make_silence,
    "service": make_service,
}

# (method, API path with {id}, object name, JSON body for writes)
API_MATRIX = [
    ("get", "/api/v1/deploys/{id}", "deploy", None),
    ("get", "/api/v1/deploys/{id}/impact", "deploy", None),
    ("get", "/api/v1/deploys/{id}/verdict", "deploy", None),
    ("get", "/api/v1/deploys/{id}/drift", "deploy", None),
    ("post", "/api/v1/deploys/{id}/rollback", "deploy", {}),
    ("get", "/api/v1/rollbacks/{id}", "rollback", None),
    ("post", "/api/v1/rollbacks/{id}/status", "rollback", {"status": "running"}),
    ("post", "/api/v1/alerts/{id}/ack", "alert", {}),
    ("post", "/api/v1/alerts/{id}/resolve", "alert", {}),
    ("get", "/api/v1/channels/{id}", "channel", None),
    ("patch", "/api/v1/channels/{id}", "channel", {"enabled": False}),
    ("delete", "/api/v1/channels/{id}", "channel", None),
    ("post", "/api/v1/channels/{id}/test", "channel", {}),
    ("patch", "/api/v1/alert-rules/{id}", "rule", {"enabled": False}),
    ("delete", "/api/v1/alert-rules/{id}", "rule", None),
    ("delete", "/api/v1/silences/{id}", "silence", None),
]

# (page path with {slug} and {id}, object name)
PAGE_MATRIX = [
    ("/{slug}/deploys/{id}/", "deploy"),
    ("/{slug}/compare/{id}/{id}/", "deploy"),
    ("/{slug}/settings/tokens/{id}/revoke/", "token"),
    ("/{slug}/settings/signing-secrets/{id}/revoke/", "signing_secret"),
    ("/{slug}/deploys/{id}/rollback/", "deploy"),
    ("/{slug}/alerts/{id}/ack/", "alert"),
    ("/{slug}/alerts/{id}/resolve/", "alert"),
    ("/{slug}/alerts/silences/{id}/expire/", "silence"),
    ("/{slug}/alerts/channels/{id}/test/", "channel"),
    ("/{slug}/alerts/channels/{id}/toggle/", "channel"),
    ("/{slug}/alerts/channels/{id}/delete/", "channel"),
    ("/{slug}/alerts/rules/{id}/", "rule"),
    ("/{slug}/services/{id}/", "service"),
]


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def test_every_url_with_an_id_is_in_a_matrix():
    covered = {path.replace("{id}", "") for _, path, _, _ in API_MATRIX}
    covered |= {path.replace("{slug}", "").replace("{id}", "") for path, _ in PAGE_MATRIX}
    routes = {route for route in _walk(get_resolver().url_patterns) if "<int:" in route and "admin" not in route}
    normalised = {"/" + route.split("<slug:project_slug>")[-1] for route in routes}
    missing = []
    for route in sorted(normalised):
        shape = route
        while "<int:" in shape:
            start = shape.index("<int:")
            shape = shape[:start] + shape[shape.index(">", start) + 1 :]
        if shape.replace("//", "/") not in {c.replace("//", "/") for c in covered}:
            missing.append(route)
    assert not missing, f"add these URLs to the isolation matrix: {missing}"


@pytest.mark.parametrize(("method", "path", "name", "body"), API_MATRIX)
def test_another_projects_token_gets_404(other_api, project, method, path, name, body):
    obj = OBJECTS[name](project)
    kwargs = {"format": "json", "data": body} if body is not None else {}
    response = getattr(other_api, method)(path.format(id=obj.pk), **kwargs)
    assert response.status_code == 404, response.content
    assert error_code(response) == "not_found"


@pytest.mark.parametrize(("path", "name"), PAGE_MATRIX)
def test_another_projects_user_gets_404(client, charlie, other_project, project, path, name):
    obj = OBJECTS[name](project)
    client.force_login(charlie)
    # Through the object's own project slug, membership is checked before anything else: 404 for any method.
    for method in (client.get, client.post):
        assert method(path.format(slug=project.slug, id=obj.pk)).status_code == 404, method
    # Through the outsider's own project the object is not found (a GET of a POST-only URL is a 405 there,
    # which says nothing about the object).
    assert client.post(path.format(slug=other_project.slug, id=obj.pk)).status_code == 404
    assert client.get(path.format(slug=other_project.slug, id=obj.pk)).status_code in (404, 405)


def test_api_lists_show_nothing_of_another_project(api, other_api, project):
    make_deploy(project)
    assert api.get("/api/v1/deploys").json()["results"]
    assert other_api.get("/api/v1/deploys").json()["results"] == []
