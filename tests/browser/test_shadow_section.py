"""A shadow deploy's page in Chromium: the comparison with its champion, and the link to the compare page."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from playwright.sync_api import expect
from scipy import stats

from tests.metrics.test_shadow_api import T0, post_deploy, post_predictions, scored_requests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_sees_the_shadow_verdict_and_follows_it_to_the_compare_page(page, live_server, login, project, api):
    champion = post_deploy(api, "1.0", T0)
    challenger = post_deploy(api, "2.0", T0 + timedelta(hours=1), strategy="shadow")
    ids, champ, chall, labels = scored_requests(400, seed=3)
    post_predictions(api, champion, ids, champ.tolist(), labels.tolist())
    post_predictions(api, challenger, ids, chall.tolist())
    login(page, "vera", "vera-password")

    page.goto(f"{live_server.url}/{project.slug}/deploys/{challenger.pk}/")

    section = page.locator("#shadow")
    expect(section.locator("#shadow-verdict")).to_have_text("better")
    expect(section.locator("#shadow-pairs")).to_have_text("400")
    share = np.mean((chall >= 0.5) == (champ >= 0.5))
    expect(section.locator("#shadow-agreement")).to_have_text(f"{share:.4f}".rstrip("0").rstrip("."))
    expect(section.locator("#shadow-shift")).to_contain_text(f"p = {stats.wilcoxon(chall - champ).pvalue:.3g}")
    section.get_by_role("link", name="Compare with the champion side by side").click()
    expect(page).to_have_url(re.compile(rf"/compare/{champion.pk}/{challenger.pk}/$"))
    expect(page.locator("#shadow #shadow-verdict")).to_have_text("better")
