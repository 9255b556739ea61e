"""The shadow comparison on the deploy page and the compare page (test client)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from tests.metrics.test_shadow_api import T0, post_deploy, post_predictions, scored_requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(api):
    """A champion and its shadow challenger that both scored 400 labelled requests; the challenger is better."""
    champion = post_deploy(api, "1.0", T0)
    challenger = post_deploy(api, "2.0", T0 + timedelta(hours=1), strategy="shadow")
    ids, champ, chall, labels = scored_requests(400, seed=3)
    post_predictions(api, champion, ids, champ.tolist(), labels.tolist())
    post_predictions(api, challenger, ids, chall.tolist())
    return champion, challenger, champ, chall


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def section_of(html: str) -> str:
    start = html.index('id="shadow"')
    return html[start : html.index("</section>", start)]


def test_a_shadow_deploys_page_shows_agreement_the_paired_shift_and_the_verdict(alice_client, project, pair):
    champion, challenger, champ, chall = pair
    html = alice_client.get(f"/{project.slug}/deploys/{challenger.pk}/").content.decode()
    section = section_of(html)
    assert 'id="shadow-verdict">better<' in section
    assert "400" in section
    share = np.mean((chall >= 0.5) == (champ >= 0.5))
    assert f'id="shadow-agreement">{share:.4f}'.rstrip("0") in section
    assert f"p = {stats.wilcoxon(chall - champ).pvalue:.3g}" in section
    assert f"/compare/{champion.pk}/{challenger.pk}/" in section


def test_the_champions_own_page_has_no_shadow_section(alice_client, project, pair):
    champion = pair[0]
    assert 'id="shadow"' not in alice_client.get(f"/{project.slug}/deploys/{champion.pk}/").content.decode()


def test_the_compare_page_of_champion_and_challenger_shows_the_comparison_either_way_round(alice_client, project, pair):
    champion, challenger = pair[0], pair[1]
    for a, b in ((champion, challenger), (challenger, champion)):
        section = section_of(alice_client.get(f"/{project.slug}/compare/{a.pk}/{b.pk}/").content.decode())
        assert 'id="shadow-verdict">better<' in section and "2.0 runs beside" in section


def test_the_compare_page_of_two_unrelated_deploys_has_no_shadow_section(alice_client, api, project, pair):
    other = post_deploy(api, "3.0", T0 + timedelta(hours=2))
    html = alice_client.get(f"/{project.slug}/compare/{pair[0].pk}/{other.pk}/").content.decode()
    assert 'id="shadow"' not in html
