"""Names from users reach Plotly as literal text: every chart label built from one has its markup escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from metrics.chart_labels import plain
from metrics.drift.charts import drift_charts
from metrics.impact.charts import DeployMark, impact_figures

HOSTILE = '<a href="https://evil.example">x</a>'
ESCAPED = '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'


def test_markup_characters_become_entities_and_nothing_else_changes():
    assert plain(HOSTILE) == ESCAPED
    assert plain("a & b") == "a &amp; b"
    assert plain("&lt;") == "&amp;lt;"  # shows as typed, not as "<"
    assert plain("latency_ms p99 · 1.2.3") == "latency_ms p99 · 1.2.3"
    assert plain(42) == "42"


def _column(name: str, **extra) -> dict:
    judged = {"verdict": "drifted", "severity": 2.0, "method": "psi", "score": 0.3, "threshold": 0.1}
    return {"column": name, **judged, **extra}


def _no_raw_markup(figure: dict) -> None:
    text = json.dumps(figure)
    assert "<a " not in text and "</a>" not in text and "<b>" not in text


def test_drift_charts_escape_column_names_and_categories_but_keep_raw_keys_for_the_page():
    columns = [
        _column(HOSTILE, histogram={"edges": [0, 1, 2], "ref": [1, 2], "cur": [2, 1]}),
        _column("channel", bins=[{"label": HOSTILE, "ref": 3, "cur": 1}, {"label": "<b>app</b>", "ref": 1, "cur": 3}]),
    ]
    charts = drift_charts(columns)
    bars = charts["bars"]["data"][0]
    assert bars["x"] == [ESCAPED, "channel"]
    assert [row[-1] for row in bars["customdata"]] == [HOSTILE, "channel"]  # the script opens overlays by raw name
    assert set(charts["overlays"]) == {HOSTILE, "channel"}
    assert charts["overlays"][HOSTILE]["layout"]["title"]["text"] == ESCAPED
    assert charts["overlays"]["channel"]["data"][0]["x"] == [ESCAPED, "&lt;b&gt;app&lt;/b&gt;"]
    # customdata is drawn only where a hovertemplate names it; the raw name (last) is named nowhere.
    raw = len(bars["customdata"][0]) - 1
    assert f"customdata[{raw}]" not in bars["hovertemplate"]
    _no_raw_markup({**charts["bars"], "data": [{**bars, "customdata": None}]})
    for overlay in charts["overlays"].values():
        _no_raw_markup(overlay)


def test_impact_charts_escape_metric_names_and_versions_in_titles_traces_hover_and_annotations():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    mine, theirs = DeployMark(2, "<b>v2</b>", at), DeployMark(1, HOSTILE, at - timedelta(hours=1))
    rows = [(at - timedelta(minutes=m), deploy, 10, 1.0, 0.5, 1.5) for m in range(3) for deploy in (1, 2)]
    section = SimpleNamespace(
        rows=[{"name": "<b>latency</b>", "windows": {}}], series={"<b>latency</b>": rows}, deploy=mine, baseline=theirs
    )
    [figure] = impact_figures(section)
    assert figure["layout"]["title"]["text"] == "&lt;b&gt;latency&lt;/b&gt;"
    names = [trace["name"] for trace in figure["data"]]
    assert names == [f"baseline {ESCAPED}", "this deploy &lt;b&gt;v2&lt;/b&gt;"]
    assert all(trace["hovertemplate"].endswith("<extra>%{fullData.name}</extra>") for trace in figure["data"])
    annotations = [a["text"] for a in figure["layout"]["annotations"]]
    assert "deploy &lt;b&gt;v2&lt;/b&gt;" in annotations
    assert set(annotations) <= {"deploy &lt;b&gt;v2&lt;/b&gt;", f"deploy {ESCAPED}"}
    _no_raw_markup(figure)
