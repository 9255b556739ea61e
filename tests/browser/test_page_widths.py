"""No page is wider than a phone or a laptop screen: at 390 × 844 and 1440 × 900, every page's
`document.documentElement.scrollWidth` stays within the viewport (wide tables scroll inside their cards, the
nav collapses behind a menu button on a phone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from alerts.models import Alert
from deployments.models import Deploy
from metrics.drift.models import DriftReport
from metrics.impact.models import ImpactReport
from tests.demo_snapshot import seeded_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = [(390, 844), (1440, 900)]


@pytest.fixture
def pages(db) -> list[str]:
    """Every page a person reads, in its fullest demo state."""
    seeded_demo()
    degraded = ImpactReport.objects.filter(verdict="degraded").select_related("deploy")[0].deploy
    drifted = DriftReport.objects.order_by("-n_drifted").select_related("deploy")[0].deploy
    rolled_back = Deploy.objects.filter(project__slug="demo", status="rolled_back")[0]
    alert = Alert.objects.filter(project__slug="demo").order_by("-started_at")[0]
    # A canary beside its baseline, so the deploy page shows its promotion card too.
    Deploy.objects.filter(pk=drifted.pk).update(strategy="canary", traffic_percent=10)
    paths = [
        "/demo/",
        f"/demo/deploys/{degraded.pk}/",
        f"/demo/deploys/{drifted.pk}/",
        f"/demo/deploys/{rolled_back.pk}/",
        "/demo/compare/",
        f"/demo/compare/{degraded.baseline_id}/{degraded.pk}/",
        "/demo/alerts/",
        f"/demo/alerts/{alert.pk}/",
        "/demo/alerts/settings/",
        "/demo/dora/",
        "/demo/settings/",
        "/demo/settings/audit/",
        "/demo/services/fraud-scorer/",
        "/demo/services/fraud-scorer/metrics/",
        "/demo/services/fraud-scorer/drift-settings/",
        "/demo/services/fraud-scorer/settings/",
        "/demo/metric-sources/",
        "/demo/services/fraud-scorer/columns/",
        "/demo/rollbacks/endpoint/",
        f"/demo/deploys/{degraded.pk}/rollback/",
    ]
    return paths


def _overflow(page) -> dict:
    return page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth, viewport: window.innerWidth,
                   widest: [...document.querySelectorAll("body *")]
                     .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
                     .slice(0, 3).map((el) => el.tagName + "." + el.className)})"""
    )


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["phone", "laptop"])
def test_no_page_is_wider_than_the_viewport(browser, live_server, pages, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/")
    assert _overflow(page)["scroll"] <= width, "the login page"
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/demo/")
    too_wide = {}
    for path in pages:
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        measured = _overflow(page)
        if measured["scroll"] > width:
            too_wide[path] = measured
    context.close()
    assert too_wide == {}


def test_on_a_phone_the_nav_collapses_behind_a_menu_button(browser, live_server, pages):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/demo/")
    nav = page.locator(".project-nav")
    expect(nav.get_by_role("link", name="DORA")).to_be_hidden()
    page.click("#nav-toggle")
    expect(nav.get_by_role("link", name="DORA")).to_be_visible()
    nav.get_by_role("link", name="DORA").click()
    expect(page.locator("h1")).to_have_text("DORA figures")
    context.close()
