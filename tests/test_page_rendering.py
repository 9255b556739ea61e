"""Templates only render: every page's template, given the context its view built, runs no query.

Each page is requested through the test client with the template loader's `render_to_string` captured, so
the context is exactly what the view built and no first render has filled a lazy QuerySet or a relation
cache (which would hide the query a second render should have run). The template is then rendered once,
with that context and request, under `django_assert_num_queries(0)`.

Every page route is listed in PAGES or ACTIONS: a new page without an entry fails
`test_every_page_route_is_listed`, so it cannot slip past.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.template import engines, loader
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from alerts.models import Alert, Channel, Delivery, DeliveryAttempt
from deployments.models import Deploy
from metrics.drift.models import DriftReport
from metrics.impact.models import ImpactReport
from rollbacks.models import RollbackEndpoint
from rollbacks.services import rollback_request_create
from tests.demo_snapshot import seeded_demo
from tracker.models import Project, Role
from tracker.services import membership_set, project_create

pytestmark = pytest.mark.django_db
# Seeding runs the product's tasks on commit, as the command does: the test that seeds commits for real.
SEEDED = pytest.mark.django_db(transaction=True)


@dataclass
class World:
    project: Project
    degraded: Deploy
    drifted: Deploy
    rolled_back: Deploy
    rollback: Deploy
    open_rollback: Deploy
    endpoint_url: str


@pytest.fixture
def world() -> World:
    """The demo (every app's data), plus what it lacks: an open rollback request, a delivery with attempts,
    and a second project so the home page lists projects instead of redirecting."""
    seeded_demo()
    project = Project.objects.get(slug="demo")
    user = get_user_model().objects.get(username="demo")
    membership_set(project=project_create(slug="second", name="Second"), user=user, role=Role.VIEWER)
    open_rollback = Deploy.objects.filter(project=project, service__name="churn-model").order_by("-deployed_at")[0]
    # Open, as while the broker has not yet handed it to the worker (nothing is sent anywhere).
    with mock.patch("rollbacks.services.requests._enqueue_dispatch"):
        assert rollback_request_create(deploy=open_rollback, reason="paged").state == "requested"
    channel = Channel.objects.get(project=project)
    delivery = Delivery.objects.create(
        project=project, channel=channel, reason="test", event_action="test", next_attempt_at=timezone.now()
    )
    DeliveryAttempt.objects.create(delivery=delivery, number=1, at=timezone.now(), status_code=503, latency_ms=12)
    return World(
        project=project,
        degraded=ImpactReport.objects.filter(verdict="degraded").select_related("deploy")[0].deploy,
        drifted=DriftReport.objects.order_by("-n_drifted").select_related("deploy")[0].deploy,
        rolled_back=Deploy.objects.filter(project=project, status="rolled_back")[0],
        rollback=Deploy.objects.filter(project=project, is_rollback=True)[0],
        open_rollback=open_rollback,
        endpoint_url=RollbackEndpoint.objects.get(project=project).url,
    )


def _deploy_pages(w: World) -> list[str]:
    alerted = Alert.objects.filter(project=w.project).order_by("-started_at")[0].deploy_id
    ids = [w.degraded.pk, w.drifted.pk, w.rolled_back.pk, w.rollback.pk, w.open_rollback.pk, alerted]
    return [f"/demo/deploys/{pk}/" for pk in ids]


# URL name → the GET paths that show the page in its fullest states.
PAGES: dict[str, Callable[[World], list[str]]] = {
    "home": lambda w: ["/"],
    "timeline": lambda w: ["/demo/", "/demo/?service=fraud-scorer&environment=production&status=succeeded&range=30d"],
    "deploy_detail": _deploy_pages,
    "compare": lambda w: [
        f"/demo/compare/{w.rolled_back.baseline_id}/{w.rolled_back.pk}/",
        f"/demo/compare/{w.degraded.pk}/{w.drifted.pk}/",
    ],
    "compare_pick": lambda w: ["/demo/compare/"],
    "service_page": lambda w: ["/demo/services/fraud-scorer/", "/demo/services/fraud-scorer/?range=30d&metric=auc"],
    "dora": lambda w: ["/demo/dora/", "/demo/dora/?days=90&all=1"],
    "alert_list": lambda w: ["/demo/alerts/"],
    "alert_detail": lambda w: [f"/demo/alerts/{a.pk}/" for a in Alert.objects.filter(project=w.project)[:3]],
    "alert_settings": lambda w: ["/demo/alerts/settings/"],
    "project_settings": lambda w: ["/demo/settings/"],
    "audit_log": lambda w: ["/demo/settings/audit/"],
    "metric_settings": lambda w: ["/demo/services/fraud-scorer/metrics/"],
    "service_columns": lambda w: ["/demo/services/fraud-scorer/columns/"],
    "service_settings": lambda w: ["/demo/services/fraud-scorer/settings/"],
    "rollback_confirm": lambda w: [f"/demo/deploys/{w.rolled_back.rolled_back_by_id}/rollback/"],
    "release_cards": lambda w: [f"/demo/deploys/{w.open_rollback.pk}/release-cards/"],
    "rollback_endpoint_settings": lambda w: ["/demo/rollbacks/endpoint/"],
    "metric_sources": lambda w: ["/demo/metric-sources/"],
}

# Pages answered to a POST, rendered rather than redirected (a secret shown once, a form with its errors).
RENDERED_POSTS: list[tuple[str, dict]] = [
    ("/demo/settings/tokens/", {"name": "ci", "scopes": ["read"]}),
    ("/demo/settings/tokens/", {"name": ""}),
    ("/demo/settings/signing-secrets/", {}),
    ("/demo/settings/webhooks/github/", {}),
    ("/demo/alerts/channels/", {"name": "hook", "kind": "webhook", "url": "https://93.184.215.14/hook"}),
    ("/demo/alerts/channels/", {"name": "", "kind": "slack", "url": "not a url"}),
    ("/demo/metric-sources/", {"name": "prom", "url": "http://169.254.169.254/", "timeout_seconds": "5",
                               "queries": "[]"}),
    ("/demo/rollbacks/endpoint/", {"url": "https://93.184.215.14/hook", "format": "generic", "ref": "main",
                                   "event_type": "rollback.requested"}),
    ("/demo/services/fraud-scorer/settings/", {"environment": "", "impact_mode": "sometimes"}),
]  # fmt: skip

# State changes that answer with a redirect (or render a page listed above); nothing of theirs to render.
ACTIONS = {
    "token_create",
    "token_revoke",
    "signing_secret_create",
    "signing_secret_revoke",
    "signing_required",
    "provider_secret_create",
    "alert_ack",
    "alert_resolve",
    "silence_create",
    "silence_expire",
    "channel_create",
    "channel_test",
    "channel_toggle",
    "channel_delete",
    "alert_rule_update",
    "metric_setting_update",
    "service_drift_settings",
    "promotion_request",
    "metric_source_test",
    "metric_source_delete",
}

# Not pages of ours: the API, the Django admin, Django's login and logout, probes, the demo's CI receiver (JSON).
NOT_PAGES = {
    "healthz",
    "readyz",
    "prometheus",
    "login",
    "logout",
    "schema",
    "swagger",
    "demo_receiver_alerts",
    "demo_receiver_rollback",
}


def _names(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern) not in ("admin/", "api/v1/"):
                yield from _names(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield entry.name


def test_every_page_route_is_listed():
    names = set(_names(get_resolver().url_patterns)) - NOT_PAGES
    assert names - set(PAGES) - ACTIONS == set(), "add these routes to PAGES (or ACTIONS) in this file"
    assert set(PAGES) & ACTIONS == set()


def _render_without_queries(client, method: str, path: str, data: dict | None, assert_num_queries) -> str:
    captured = []

    def capture(template_name, context=None, request=None, using=None):
        captured.append((template_name, context, request))
        return ""

    with mock.patch.object(loader, "render_to_string", capture):
        response = getattr(client, method)(path, data or {})
    assert response.status_code in (200, 400), (path, response.status_code)
    [(template_name, context, request)] = captured
    with assert_num_queries(0):
        html = loader.render_to_string(template_name, context, request)
    # A whole page, or a fragment a page fetches (its template is a partial: "_name.html").
    assert "</html>" in html or template_name.rsplit("/", 1)[-1].startswith("_"), template_name
    return html


@SEEDED
def test_every_page_renders_from_its_views_context_without_a_query(client, world, django_assert_num_queries):
    client.force_login(get_user_model().objects.get(username="demo"))
    requests = [("get", path, None) for paths in PAGES.values() for path in paths(world)]
    requests += [("post", path, data) for path, data in RENDERED_POSTS]
    failures, pages = {}, {}
    for method, path, data in requests:
        try:
            pages[path] = _render_without_queries(client, method, path, data, django_assert_num_queries)
        except pytest.fail.Exception as exc:  # every page's count, not only the first one's
            failures[f"{method.upper()} {path}"] = str(exc).splitlines()[0]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
    # Rendered from the context alone, the pages still carry each app's part (not an empty shell).
    degraded, drifted = pages[f"/demo/deploys/{world.degraded.pk}/"], pages[f"/demo/deploys/{world.drifted.pk}/"]
    assert 'id="impact-verdict">Degraded' in degraded and '<script id="impact-charts"' in degraded
    assert all(f'id="{part}"' in degraded for part in ("rollback", "alerts", "drift", "changes", "events"))
    assert '<script id="drift-charts"' in drifted and "Realised quality" in drifted
    assert "rollback requested" in pages["/demo/"] and "impact degraded" in pages["/demo/"]
    assert world.endpoint_url in pages["/demo/settings/"]
    assert 'id="alert-settings"' in pages["/demo/settings/"]
    assert "503" in pages["/demo/alerts/settings/"]


def test_a_render_that_queries_is_caught(project, django_assert_num_queries):
    """The harness itself: a template that follows a relation nobody loaded fails the assertion."""
    template = engines["django"].from_string("{% for m in project.memberships.all %}{{ m.role }}{% endfor %}")
    with pytest.raises(pytest.fail.Exception, match="Expected to perform 0 queries"), django_assert_num_queries(0):
        template.render({"project": Project.objects.get(pk=project.pk)})
