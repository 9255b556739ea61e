"""The deploy page's Plotly styles match the bundle it serves, so Plotly needs no inline <style> (see the CSP)."""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.staticfiles import finders

from tests.plotly_css import plotly_rules, stylesheet
from tests.test_plotly_bundle import BUNDLE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "_plotly.html"


def _bundle() -> str:
    return Path(finders.find(BUNDLE)).read_text()


def test_static_plotly_css_holds_exactly_the_bundles_global_rules():
    bundle = _bundle()
    version = re.search(r"plotly\.js.*? v([\d.]+)", bundle[:300]).group(1)
    rules = plotly_rules(bundle)
    assert (
        "X .main-svg".replace("X", ".js-plotly-plot .plotly"),
        "position:absolute;top:0;left:0;pointer-events:none;",
    ) in rules
    expected = stylesheet(rules, version)
    assert (ROOT / "static" / "css" / "plotly.css").read_text() == expected, "regenerate with tests/plotly_css.py"


def test_the_deploy_page_marks_every_style_the_bundle_would_inject():
    """Plotly skips its global <style> when #plotly.js-style-global.no-inline-styles exists, and each bundled
    library's <style> (MapLibre's) when an element with that library's id exists."""
    page = TEMPLATE.read_text()
    assert re.search(r'<link rel="stylesheet" id="plotly\.js-style-global" class="no-inline-styles"', page)
    guarded = set(
        re.findall(
            r'document\.getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)', _bundle()
        )
    )
    assert guarded, "the bundle injects no library <style>: drop the <template> markers"
    assert all(f'id="{style_id}"' in page for style_id in guarded)
