"""Every route is in a matrix: what another project's token or user gets there, or why it is not per project.

- API_MATRIX, PAGE_MATRIX: a URL naming an object (by id or by service name) is a 404 for another
  project's token or user.
- PROJECT_PAGES: a page of a project (its slug is the only object) is a 404 for an outsider.
- TOKEN_API: a URL without an object answers for the token's own project only: a read shows nothing of
  another project's, a write leaves the other project's rows as they were.
- USER_PAGES: a page of the signed-in user shows nothing of a project the user is not a member of.
- NOT_PROJECT_SCOPED: the route with the reason it belongs to no project.

Every route the URL resolver knows (the Django admin aside: see NOT_WALKED) must be reached by one of
them, or `test_every_route_is_in_a_matrix` fails, so a new route cannot slip past.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from deployments.models import Service
from deployments.services import deploy_record
from tests.helpers import error_code
from tracker.models import Project

# Every object of project alpha the matrices make carries this in its names: another project's answers
# must never show it.
MARKER = "alpha"


def make_deploy(project):
    deploy, _ = deploy_record(
        project=project,
        service="alpha-svc",
        environment="production",
        version="1.0",
        finished_at=timezone.now() - timedelta(hours=1),
    )
    return deploy


def make_rollback(project):
    from rollbacks.services import rollback_request_create
    from tests.rollbacks.rollback_world import endpoint, history

    world, _ = history(project), endpoint(project)
    return rollback_request_create(deploy=world.v3)


def make_promotion(project):
    from rollbacks.services import promotion_request_create
    from tests.rollbacks.rollback_world import canary_pair, endpoint

    pair, _ = canary_pair(project), endpoint(project)
    return promotion_request_create(deploy=pair.challenger)


def make_alert(project):
    from alerts.rules import ColumnFact, DeployFacts
    from alerts.services import alerts_evaluate_deploy

    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alerts_evaluate_deploy(deploy=make_deploy(project), facts=DeployFacts(columns, has_drift_report=True))
    return alert


def make_channel(project):
    from alerts.services import channel_create

    return channel_create(project=project, name="alpha-hook", kind="webhook", url="https://93.184.215.14/hook")[0]


def make_metric_source(project):
    from metrics.sources.services import source_create

    return source_create(project=project, name="alpha-prom", url="https://93.184.215.14/")


def make_rule(project):
    return project.alert_rules.first()


def make_silence(project):
    from alerts.services import silence_create

    return silence_create(project=project, matchers=["service=alpha-svc"], ends_at=timezone.now() + timedelta(hours=1))


def make_token_object(project):
    from tracker.services import token_issue

    return token_issue(project=project, name="ci", scopes=["read"])[0]


def make_signing_secret(project):
    from tracker.services import signing_secret_issue

    signing_secret_issue(project=project)
    return project.signing_secrets.get()


def make_service(project):
    return make_deploy(project).service


def make_metric_setting(project):
    from metrics.impact.services import metric_setting_save

    service = make_service(project)
    return metric_setting_save(project=project, service=service, name="alpha_latency_ms", critical=True)


def make_hook_settings(project):
    from deployments.hook_services import hook_settings_update

    return hook_settings_update(project=project, service_names={"alpha/scorer": "alpha-scorer"})


def key(obj) -> object:
    """What fills {id}: a service is named by its name in URLs, everything else by its primary key."""
    return obj.name if isinstance(obj, Service) else obj.pk


# name → factory(project) returning an object of that project whose key fills {id}.
def make_status_writeback(project):
    from alerts.services import status_writeback_set

    return status_writeback_set(
        project=project, provider="github", api_url="https://93.184.215.14", token="t", repositories={"svc": "a/b"}
    )


# name → factory(project) returning an object of that project whose pk fills {id}.
OBJECTS: dict[str, Callable] = {
    "service": make_service,
    "metric_setting": make_metric_setting,
    "deploy": make_deploy,
    "token": make_token_object,
    "signing_secret": make_signing_secret,
    "rollback": make_rollback,
    "promotion": make_promotion,
    "alert": make_alert,
    "channel": make_channel,
    "rule": make_rule,
    "silence": make_silence,
    "metric_source": make_metric_source,
    "hook_settings": make_hook_settings,
    "status_writeback": make_status_writeback,
}

# (method, API path with {id}, object name, JSON body for writes)
API_MATRIX = [
    ("get", "/api/v1/deploys/{id}", "deploy", None),
    ("get", "/api/v1/deploys/{id}/impact", "deploy", None),
    ("get", "/api/v1/deploys/{id}/verdict", "deploy", None),
    ("get", "/api/v1/deploys/{id}/checks", "deploy", None),
    (
        "post",
        "/api/v1/deploys/{id}/checks",
        "deploy",
        {"checks": [{"name": "x", "kind": "schema", "status": "passed"}]},
    ),
    ("get", "/api/v1/verdict?service=svc&environment=production&version=1.0", "deploy", None),
    ("get", "/api/v1/deploys/{id}/drift", "deploy", None),
    ("get", "/api/v1/deploys/{id}/shadow", "deploy", None),
    ("post", "/api/v1/deploys/{id}/rollback", "deploy", {}),
    ("get", "/api/v1/rollbacks/{id}", "rollback", None),
    ("post", "/api/v1/rollbacks/{id}/status", "rollback", {"status": "running"}),
    ("post", "/api/v1/deploys/{id}/promote", "deploy", {}),
    ("get", "/api/v1/promotions/{id}", "promotion", None),
    ("post", "/api/v1/promotions/{id}/status", "promotion", {"status": "running"}),
    ("post", "/api/v1/alerts/{id}/ack", "alert", {}),
    ("post", "/api/v1/alerts/{id}/resolve", "alert", {}),
    ("get", "/api/v1/channels/{id}", "channel", None),
    ("patch", "/api/v1/channels/{id}", "channel", {"enabled": False}),
    ("delete", "/api/v1/channels/{id}", "channel", None),
    ("post", "/api/v1/channels/{id}/test", "channel", {}),
    ("patch", "/api/v1/alert-rules/{id}", "rule", {"enabled": False}),
    ("delete", "/api/v1/alert-rules/{id}", "rule", None),
    ("delete", "/api/v1/silences/{id}", "silence", None),
    ("put", "/api/v1/metric-settings/{id}/latency_ms", "service", {"critical": True}),
    ("get", "/api/v1/services/{id}/settings", "service", None),
    ("patch", "/api/v1/services/{id}/settings", "service", {"impact_mode": "concurrent"}),
    ("get", "/api/v1/metric-sources/{id}", "metric_source", None),
    ("patch", "/api/v1/metric-sources/{id}", "metric_source", {"timeout_seconds": 5}),
    ("delete", "/api/v1/metric-sources/{id}", "metric_source", None),
    ("post", "/api/v1/metric-sources/{id}/test", "metric_source", {}),
    # One per project and provider: another project's token reads only its own (none here).
    ("get", "/api/v1/status-writeback/github", "status_writeback", None),
]

# (page path with {slug} and {id}, object name)
PAGE_MATRIX = [
    ("/{slug}/deploys/{id}/", "deploy"),
    ("/{slug}/compare/{id}/{id}/", "deploy"),
    ("/{slug}/settings/tokens/{id}/revoke/", "token"),
    ("/{slug}/settings/signing-secrets/{id}/revoke/", "signing_secret"),
    ("/{slug}/deploys/{id}/rollback/", "deploy"),
    ("/{slug}/deploys/{id}/promote/", "deploy"),
    ("/{slug}/deploys/{id}/release-cards/", "deploy"),
    ("/{slug}/alerts/{id}/", "alert"),
    ("/{slug}/alerts/{id}/ack/", "alert"),
    ("/{slug}/alerts/{id}/resolve/", "alert"),
    ("/{slug}/alerts/silences/{id}/expire/", "silence"),
    ("/{slug}/alerts/channels/{id}/test/", "channel"),
    ("/{slug}/alerts/channels/{id}/toggle/", "channel"),
    ("/{slug}/alerts/channels/{id}/delete/", "channel"),
    ("/{slug}/alerts/rules/{id}/", "rule"),
    ("/{slug}/services/{id}/columns/", "service"),
    ("/{slug}/services/{id}/drift-settings/", "service"),
    ("/{slug}/services/{id}/metrics/", "service"),
    ("/{slug}/services/{id}/metrics/save", "service"),
    ("/{slug}/services/{id}/settings/", "service"),
    ("/{slug}/metric-sources/{id}/test/", "metric_source"),
    ("/{slug}/metric-sources/{id}/delete/", "metric_source"),
    ("/{slug}/services/{id}/", "service"),
]

# Pages whose only object is the project in their path: an outsider gets 404 for any method.
PROJECT_PAGES = [
    "/{slug}/",
    "/{slug}/dora/",
    "/{slug}/alerts/",
    "/{slug}/alerts/silences/",
    "/{slug}/alerts/settings/",
    "/{slug}/alerts/channels/",
    "/{slug}/rollbacks/endpoint/",
    "/{slug}/settings/",
    "/{slug}/settings/tokens/",
    "/{slug}/settings/signing-secrets/",
    "/{slug}/settings/signing-required/",
    "/{slug}/settings/webhooks/github/",
    "/{slug}/settings/audit/",
    "/{slug}/metric-sources/",
    "/{slug}/compare/",
]

# (method, API path, object of project alpha, JSON body) called by another project's token: the project is
# the token's. A read must not show alpha's object; a write (even naming alpha's service) must leave every
# row of alpha as it was.
TOKEN_API = [
    ("get", "/api/v1/deploys", "deploy", None),
    ("post", "/api/v1/deploys", "deploy", {"service": "alpha-svc", "environment": "production", "version": "9"}),
    ("get", "/api/v1/dora", "deploy", None),
    ("get", "/api/v1/alerts", "alert", None),
    ("get", "/api/v1/silences", "silence", None),
    ("get", "/api/v1/metric-sources", "metric_source", None),
    (
        "post",
        "/api/v1/metric-sources",
        "metric_source",
        {"kind": "prometheus", "name": "x", "url": "https://93.184.215.14/"},
    ),
    ("get", "/api/v1/webhook-settings", "hook_settings", None),
    ("patch", "/api/v1/webhook-settings", "hook_settings", {"service_names": {"alpha/scorer": "mine"}}),
    (
        "post",
        "/api/v1/silences",
        "silence",
        {"matchers": [{"name": "service", "value": "alpha-svc"}], "endsAt": "2099-01-01T00:00:00Z"},
    ),
    ("get", "/api/v1/channels", "channel", None),
    ("post", "/api/v1/channels", "channel", {"name": "x", "kind": "webhook", "url": "https://93.184.215.14/x"}),
    ("get", "/api/v1/alert-rules", "rule", None),
    ("post", "/api/v1/alert-rules", "rule", {"key": "drift-x", "kind": "drift_share", "threshold": 0.5}),
    ("get", "/api/v1/metric-settings?service=alpha-svc", "metric_setting", None),
    ("get", "/api/v1/rollback-endpoint", "rollback", None),
    ("put", "/api/v1/rollback-endpoint", "rollback", {"url": "https://93.184.215.14/rb", "format": "generic"}),
    (
        "post",
        "/api/v1/metrics",
        "deploy",
        {"points": [{"service": "alpha-svc", "environment": "production", "name": "m", "value": 1}]},
    ),
    (
        "post",
        "/api/v1/predictions",
        "deploy",
        {"service": "alpha-svc", "environment": "production", "prediction": [0.1]},
    ),
]

# Pages of the signed-in user rather than of a project: an outsider's shows nothing of alpha.
USER_PAGES = ["/"]

# Route prefixes left out of the walk, with why (static files are served by WhiteNoise, not by a route).
NOT_WALKED = {"admin/": "the Django admin: staff only, for the operator of the whole installation, across projects"}
# Route pattern → why it belongs to no project.
NOT_PROJECT_SCOPED = {
    "healthz": "liveness probe: no data",
    "readyz": "readiness probe: states only",
    "metrics": "the operator's Prometheus scrape (METRICS_TOKEN / METRICS_ALLOWED_NETWORKS), totals over projects",
    "login/": "Django's sign-in",
    "logout/": "Django's sign-out",
    "api/schema/": "the OpenAPI document: the same for everyone",
    "api/docs/": "Swagger UI over the OpenAPI document",
    "api/v1/webhooks/github/<slug:project_slug>": "no token: the slug's own provider secret signs the body "
    "(tests/deployments/test_provider_webhooks.py: another project's secret is refused like an unknown slug)",
    "api/v1/webhooks/gitlab/<slug:project_slug>": "as the GitHub webhook",
    "api/v1/webhooks/mlflow/<slug:project_slug>": "as the GitHub webhook",
    "demo-receiver/<slug:project_slug>/alerts": "the demo's own receiver: serves the demo project only, "
    "checks the demo channel's signature (tests/demo/test_receiver.py)",
    "demo-receiver/<slug:project_slug>/rollback": "as the demo's alert receiver",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def all_routes() -> set[str]:
    """Every route pattern the resolver knows, as `ResolverMatch.route` spells it (NOT_WALKED aside)."""
    return {route for route in _walk(get_resolver().url_patterns) if not route.startswith(tuple(NOT_WALKED))}


# Keys of the right shape for the resolver (only the shape matters there: nothing is looked up).
SAMPLE_KEYS = {
    "rollback": "00000000-0000-4000-8000-000000000000",
    "promotion": "00000000-0000-4000-8000-000000000000",
    "service": "svc",
}


def covered_routes() -> dict[str, str]:
    """Route pattern → the matrix that reaches it: each entry's path is resolved as a request would be."""

    def sample(path: str, name: str = "") -> str:
        return path.format(slug="some-project", id=SAMPLE_KEYS.get(name, "1"))

    paths = {sample(path, name): "API_MATRIX" for _, path, name, _ in API_MATRIX}
    paths |= {sample(path, name): "PAGE_MATRIX" for path, name in PAGE_MATRIX}
    paths |= {sample(path): "PROJECT_PAGES" for path in PROJECT_PAGES}
    paths |= {path.split("?")[0]: "TOKEN_API" for _, path, _, _ in TOKEN_API}
    paths |= {path: "USER_PAGES" for path in USER_PAGES}
    covered = {resolve(path.split("?")[0]).route: matrix for path, matrix in paths.items()}
    return covered | dict.fromkeys(NOT_PROJECT_SCOPED, "NOT_PROJECT_SCOPED")


def test_every_route_is_in_a_matrix():
    missing = sorted(all_routes() - set(covered_routes()))
    assert not missing, f"add these routes to a matrix of tests/test_isolation_matrix.py: {missing}"


def test_every_reason_names_a_route_that_exists():
    assert set(NOT_PROJECT_SCOPED) <= all_routes()


def test_the_walk_sees_every_kind_of_route():
    """The meta-test is only as good as the walk: it must see routes with str, slug, path and uuid parameters
    and routes without any, not only `<int:>` ones."""
    routes = all_routes()
    for converter in ("<int:", "<str:", "<slug:", "<path:", "<uuid:"):
        assert any(converter in route for route in routes), converter
    assert {"api/v1/deploys", "api/v1/dora", "healthz"} <= routes


@pytest.mark.parametrize(("method", "path", "name", "body"), API_MATRIX)
def test_another_projects_token_gets_404(other_api, project, method, path, name, body):
    obj = OBJECTS[name](project)
    kwargs = {"format": "json", "data": body} if body is not None else {}
    response = getattr(other_api, method)(path.format(id=key(obj)), **kwargs)
    assert response.status_code == 404, response.content
    assert error_code(response) == "not_found"


@pytest.mark.parametrize(("path", "name"), PAGE_MATRIX)
def test_another_projects_user_gets_404(client, charlie, other_project, project, path, name):
    obj = OBJECTS[name](project)
    client.force_login(charlie)
    # Through the object's own project slug, membership is checked before anything else: 404 for any method.
    for method in (client.get, client.post):
        assert method(path.format(slug=project.slug, id=key(obj))).status_code == 404, method
    # Through the outsider's own project the object is not found (a GET of a POST-only URL is a 405 there,
    # which says nothing about the object).
    assert client.post(path.format(slug=other_project.slug, id=key(obj))).status_code == 404
    assert client.get(path.format(slug=other_project.slug, id=key(obj))).status_code in (404, 405)


@pytest.mark.parametrize("path", PROJECT_PAGES)
def test_an_outsider_gets_404_on_a_projects_pages(client, charlie, other_project, project, path):
    client.force_login(charlie)
    for method in (client.get, client.post):
        assert method(path.format(slug=project.slug)).status_code == 404, method
    # The same page of the outsider's own project exists (the 404 above is not a typo in the matrix).
    assert client.get(path.format(slug=other_project.slug)).status_code in (200, 302, 405)


def project_rows(project: Project) -> dict[str, int]:
    """How many rows of each model belong to the project (directly or through its services)."""
    counts = {}
    for model in apps.get_models():
        fields = {field.name: field for field in model._meta.get_fields() if field.is_relation and field.many_to_one}
        if "project" in fields and fields["project"].related_model is Project:
            counts[model._meta.label] = model.objects.filter(project=project).count()
        elif "service" in fields and fields["service"].related_model is Service:
            counts[model._meta.label] = model.objects.filter(service__project=project).count()
    return counts


def ids_in(data: object) -> set[object]:
    if isinstance(data, dict):
        return {value for name, value in data.items() if name == "id"} | {i for v in data.values() for i in ids_in(v)}
    if isinstance(data, list):
        return {i for item in data for i in ids_in(item)}
    return set()


@pytest.mark.parametrize(("method", "path", "name", "body"), TOKEN_API)
def test_another_projects_token_sees_and_changes_only_its_own_project(other_api, project, method, path, name, body):
    obj = OBJECTS[name](project)
    before = project_rows(project)
    kwargs = {"format": "json", "data": body} if body is not None else {}
    response = getattr(other_api, method)(path, **kwargs)
    assert response.status_code < 500, response.content
    assert project_rows(project) == before
    if method == "get":
        assert MARKER not in response.content.decode(), response.content
        assert obj.pk not in ids_in(response.json())


def test_the_token_matrix_would_see_a_leak(api, project):
    """The project's own token does see what TOKEN_API says another's must not (the checks can fail)."""
    make_alert(project)
    make_silence(project)
    for path in ("/api/v1/deploys", "/api/v1/alerts", "/api/v1/silences", "/api/v1/dora"):
        assert MARKER in api.get(path).content.decode(), path


@pytest.mark.parametrize("path", USER_PAGES)
def test_an_outsiders_own_pages_show_nothing_of_the_project(client, charlie, other_project, project, path):
    make_deploy(project)
    client.force_login(charlie)
    response = client.get(path, follow=True)
    assert response.status_code == 200
    assert f"/{project.slug}/" not in response.content.decode()
