"""Every page in Chromium under the Content-Security-Policy: no violation, and the charts still draw.

`PAGES` names how to open each page route; `NOT_PAGES` the routes that are no page (POST-only actions,
probes, receivers). A new route in neither fails `test_every_page_route_is_loaded_under_the_policy`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import expect

from alerts.services import channel_create
from deployments.models import Deploy
from tests.demo_snapshot import seeded_demo
from tracker.models import Project
from tracker.services import token_issue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What the policy would refuse, found in the DOM itself: a refused inline handler is reported only once it
# fires, so a handler put back into a template must fail the test on load, before anyone clicks.
INLINE_CODE = """
[...document.querySelectorAll("*")].flatMap((element) => [
  ...[...element.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${element.tagName} ${a.name}`),
  ...(/^\\s*javascript:/i.test(element.getAttribute("href") || "") ? [`${element.tagName} javascript: URL`] : []),
  ...(element.tagName === "SCRIPT" && !element.src && !element.nonce && !/json/.test(element.type)
    ? ["inline <script> without the nonce"] : []),
])
"""
# Collected in every document before its own scripts run (Playwright's init script is not subject to the CSP).
VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@dataclass(frozen=True)
class DemoWorld:
    slug: str
    drift_deploy: Deploy  # fraud-scorer with drift charts
    impact_deploy: Deploy  # the degraded deploy with impact charts
    alert_id: int  # an alert the demo raised


# url name → the paths of that page in the seeded demo.
PAGES: dict[str, Callable[[DemoWorld], list[str]]] = {
    "home": lambda w: ["/"],
    "login": lambda w: ["/login/"],
    "swagger": lambda w: ["/api/docs/"],
    "timeline": lambda w: [f"/{w.slug}/", f"/{w.slug}/?service=fraud-scorer"],
    "deploy_detail": lambda w: [f"/{w.slug}/deploys/{w.drift_deploy.pk}/", f"/{w.slug}/deploys/{w.impact_deploy.pk}/"],
    "compare": lambda w: [f"/{w.slug}/compare/{w.drift_deploy.baseline_id}/{w.drift_deploy.pk}/"],
    "compare_pick": lambda w: [f"/{w.slug}/compare/"],
    "service_page": lambda w: [f"/{w.slug}/services/fraud-scorer/", f"/{w.slug}/services/fraud-scorer/?range=30d"],
    "alert_detail": lambda w: [f"/{w.slug}/alerts/{w.alert_id}/"],
    "metric_sources": lambda w: [f"/{w.slug}/metric-sources/"],
    "dora": lambda w: [f"/{w.slug}/dora/"],
    "alert_list": lambda w: [f"/{w.slug}/alerts/"],
    "alert_settings": lambda w: [f"/{w.slug}/alerts/settings/"],
    "project_settings": lambda w: [f"/{w.slug}/settings/"],
    "audit_log": lambda w: [f"/{w.slug}/settings/audit/"],
    "metric_settings": lambda w: [f"/{w.slug}/services/{w.impact_deploy.service.name}/metrics/"],
    "service_columns": lambda w: [f"/{w.slug}/services/fraud-scorer/columns/"],
    "service_drift_settings": lambda w: [f"/{w.slug}/services/fraud-scorer/drift-settings/"],
    "service_settings": lambda w: [f"/{w.slug}/services/fraud-scorer/settings/"],
    "rollback_confirm": lambda w: [f"/{w.slug}/deploys/{w.impact_deploy.pk}/rollback/"],
    "rollback_endpoint_settings": lambda w: [f"/{w.slug}/rollbacks/endpoint/"],
}
# The Django admin: its index, a list with filters and actions, a change form and an add form with widgets.
ADMIN_PAGES: list[Callable[[DemoWorld], str]] = [
    lambda w: "/admin/",
    lambda w: "/admin/deployments/deploy/",
    lambda w: f"/admin/deployments/deploy/{w.drift_deploy.pk}/change/",
    lambda w: "/admin/alerts/silence/add/",
]
NOT_PAGES = {
    "healthz",
    "readyz",
    "prometheus",
    "logout",
    "schema",
    "demo_receiver_alerts",
    "demo_receiver_rollback",
    "promotion_request",
    "release_cards",  # a fragment of the deploy page (its live refresh), no page of its own
    "alert_ack",
    "alert_resolve",
    "silence_create",
    "silence_expire",
    "channel_create",
    "channel_test",
    "channel_toggle",
    "channel_delete",
    "alert_rule_update",
    "token_create",
    "token_revoke",
    "signing_secret_create",
    "signing_secret_revoke",
    "signing_required",
    "provider_secret_create",
    "metric_setting_update",
    "metric_source_test",
    "metric_source_delete",
}


def _page_routes(patterns, prefix: str = ""):
    """Names of every route outside the API and the admin (the admin is loaded through ADMIN_PAGES)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            route = prefix + str(entry.pattern)
            if not route.startswith(("api/v1/", "admin/")):
                yield from _page_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield entry.name


def test_every_page_route_is_loaded_under_the_policy():
    routes = set(_page_routes(get_resolver().url_patterns))
    assert routes - PAGES.keys() - NOT_PAGES == set(), "add the new page to PAGES (or to NOT_PAGES if it is none)"
    assert (PAGES.keys() | NOT_PAGES) - routes == set()


@pytest.fixture
def demo(db) -> DemoWorld:
    seeded_demo()
    project = Project.objects.get(slug="demo")
    # So the settings pages draw their confirm-guarded forms (revoke a token, delete a channel).
    token_issue(project=project, name="ci", scopes=["read"])
    channel_create(project=project, name="hook", kind="webhook", url="https://93.184.215.14/hook")
    deploys = Deploy.objects.filter(project=project).select_related("service")
    return DemoWorld(
        slug=project.slug,
        drift_deploy=deploys.filter(drift_report__n_drifted__gt=0).latest("deployed_at"),
        impact_deploy=deploys.get(impact_report__verdict="degraded"),
        alert_id=project.alerts.earliest("started_at").pk,
    )


@pytest.fixture
def watched(page):
    """The page with the violation listener in every document, and every CSP console message kept."""
    page.context.add_init_script(VIOLATION_LISTENER)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    page.csp_console = console
    return page


def _open(page, url: str) -> list[str]:
    """Load `url`, let its scripts run, and return its CSP violations (events and console messages)."""
    start = len(page.csp_console)
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    page.wait_for_load_state("networkidle")
    events = page.evaluate("window.__cspViolations") + page.evaluate(INLINE_CODE)
    messages = [m for m in page.csp_console[start:] if "Content Security Policy" in m or m.startswith("page error")]
    return [f"{url}: {v}" for v in events + messages]


def test_every_page_loads_under_the_policy_without_a_violation(watched, live_server, login, demo):
    violations = _open(watched, f"{live_server.url}/login/")
    login(watched, "demo", "demo")
    for name, paths in PAGES.items():
        for path in paths(demo):
            response_violations = _open(watched, live_server.url + path)
            violations += response_violations
            if name == "deploy_detail":
                _assert_charts_drawn(watched)
            if name == "swagger":  # drawn, and an operation opens (its rendering adds no refused style either)
                watched.locator(".swagger-ui .opblock-summary").first.click()
                expect(watched.locator(".swagger-ui .opblock-body").first).to_be_visible()
                violations += [f"{path} (opened): {v}" for v in watched.evaluate("window.__cspViolations")]
    for path in ADMIN_PAGES:
        violations += _open(watched, live_server.url + path(demo))
    assert violations == [], "\n".join(violations)


def _assert_charts_drawn(page) -> None:
    charts = page.locator(".chart")
    assert charts.count() >= 1
    for index in range(charts.count()):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        expect(chart.locator("svg.main-svg").first).to_be_visible()
        assert chart.locator("g.trace").count() >= 1, f"no trace in chart {index}"
    # Plotly's stylesheet (a static file, not its refused inline <style>) lays its SVG layers on top of each other.
    position = page.evaluate("getComputedStyle(document.querySelector('.chart svg.main-svg')).position")
    assert position == "absolute"


def test_the_policy_refuses_an_inline_handler_and_the_test_sees_it(watched, live_server, login, project):
    """The listener is real: a handler put back inline is refused and reported."""
    login(watched, "alice", "alice-password")
    watched.goto(f"{live_server.url}/{project.slug}/settings/")
    watched.evaluate("document.body.setAttribute('onclick', 'window.__ran = true')")
    watched.click("h1")
    assert watched.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in watched.evaluate("window.__cspViolations"))


def test_a_confirm_prompt_still_guards_revoking_a_token(watched, live_server, login, project, token):
    login(watched, "alice", "alice-password")
    watched.goto(f"{live_server.url}/{project.slug}/settings/")
    revoke = watched.locator("form[data-confirm] button").first
    prompts: list[str] = []

    def dismiss(dialog):
        prompts.append(dialog.message)
        dialog.dismiss()

    watched.once("dialog", dismiss)
    revoke.click()
    assert prompts == ["Revoke this token? Anything using it stops working."]
    assert "/settings/" in watched.url and watched.locator("form[data-confirm]").count() == 1  # not revoked

    watched.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(watched.locator("form[data-confirm]")).to_have_count(0)  # accepted: the token is revoked
    assert watched.evaluate("window.__cspViolations") == []


HOSTILE = '<a href="https://evil.example">x</a>'


def _samples(version: str, seed: int, shift: float) -> str:
    gen = np.random.default_rng(seed)
    n = 400
    return json.dumps(
        {
            "service": "scorer",
            "environment": "production",
            "deploy": version,
            "columns": {
                HOSTILE: gen.normal(50 + shift, 10, n).round(3).tolist(),
                "channel": gen.choice([HOSTILE, "<b>app</b>", "web"], n).tolist(),
            },
            "prediction": gen.random(n).round(4).tolist(),
        }
    )


def test_a_hostile_feature_name_shows_literally_and_draws_no_link(watched, live_server, login, api, alice):
    start = datetime.now(UTC) - timedelta(minutes=30)
    for version, finished in (("1.0", start), ("<i>1.1</i>", start + timedelta(minutes=10))):
        body = {"service": "scorer", "environment": "production", "version": version}
        response = api.post("/api/v1/deploys", {**body, "finished_at": finished.isoformat()}, format="json")
        assert response.status_code == 201, response.content
    deploy_id = response.json()["id"]
    for version, seed, shift in (("1.0", 1, 0.0), ("<i>1.1</i>", 2, 8.0)):
        response = api.post("/api/v1/predictions", _samples(version, seed, shift), content_type="application/json")
        assert response.status_code == 202, response.content

    login(watched, "alice", "alice-password")
    violations = _open(watched, f"{live_server.url}/alpha/deploys/{deploy_id}/")
    _assert_charts_drawn(watched)
    # Pick the hostile column's overlay (its title and the categorical column's bars show the names too).
    watched.select_option("#drift-column", HOSTILE)
    expect(watched.locator("#drift-overlay .gtitle")).to_have_text(HOSTILE)
    ticks = watched.locator("#drift-chart .xtick text").all_text_contents()
    assert HOSTILE in ticks
    watched.select_option("#drift-column", "channel")
    overlay_ticks = watched.locator("#drift-overlay .xtick text").all_text_contents()
    assert {HOSTILE, "<b>app</b>"} <= set(overlay_ticks)
    assert watched.locator(".chart svg a, .chart svg b").count() == 0
    assert violations == []
