"""Plotly's global style rules as its bundle carries them, and the stylesheet static/css/plotly.css made of them.

Plotly.js inserts these rules into an inline <style> at load, which the Content-Security-Policy refuses; a
`<link id="plotly.js-style-global" class="no-inline-styles">` tells it the rules are already on the page.
"""

from __future__ import annotations

import re

_TABLE = re.compile(r'\{"X,X div":.*?\}(?=;for\()', re.S)
_RULE = re.compile(r"""(?:"([^"]*)"|([A-Za-z]+)):(?:'([^']*)'|"([^"]*)")""")


def plotly_rules(bundle: str) -> list[tuple[str, str]]:
    """(selector, declarations) in the bundle's order, with its X and Y placeholders expanded as it does."""
    table = _TABLE.search(bundle)
    if table is None:
        raise ValueError("no style-rule table in this Plotly bundle")
    rules = []
    for quoted, bare, single, double in _RULE.findall(table.group(0)):
        selector = (quoted or bare).replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append((re.sub(r"^,", " ,", selector), single or double))
    return rules


def stylesheet(rules: list[tuple[str, str]], version: str) -> str:
    # Plotly inserts each rule at index 0, so the last one listed comes first in its sheet.
    lines = [f"/* Plotly.js {version} global rules (made by tests/plotly_css.py); served as a file for the CSP. */"]
    lines += [f"{selector} {{{declarations}}}" for selector, declarations in reversed(rules)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # .venv/bin/python -m tests.plotly_css  (after the Plotly bundle changes)
    from pathlib import Path

    from tests.test_plotly_bundle import BUNDLE

    bundle = (Path(__file__).resolve().parents[1] / "static" / BUNDLE).read_text()
    version = re.search(r"plotly\.js.*? v([\d.]+)", bundle[:300]).group(1)
    target = Path(__file__).resolve().parents[1] / "static" / "css" / "plotly.css"
    target.write_text(stylesheet(plotly_rules(bundle), version))
