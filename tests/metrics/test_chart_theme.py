"""The pages' figures are plain dicts (metrics/chart_theme.py): each is a valid figure by plotly's own schema, and
the panels and spanning shapes are laid out as plotly.py's make_subplots, add_vrect, add_vline and add_hline would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from dashboard.charts import dora_trend_figures, drift_share_figure, service_metric_figure, timeline_figure
from dashboard.selectors import TimelinePoint, Verdict
from metrics.chart_theme import SIMPLE_WHITE, THEME, figure, hline, iso, on_panel, side_by_side, trace, vline, vrect
from metrics.drift.charts import drift_charts
from metrics.impact.charts import DeployMark, compare_figures, impact_figures

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _valid(built: dict) -> None:
    """Plotly's validators reject any property name or value its schema does not hold."""
    go.Figure(built)


def _plotly(built: go.Figure) -> dict:
    return json.loads(built.to_json())


def _impact_section(baseline_days_before: float) -> SimpleNamespace:
    baseline_at = AT - timedelta(days=baseline_days_before)
    windows = {
        "baseline": [(baseline_at + timedelta(minutes=5)).isoformat(), (baseline_at + timedelta(hours=1)).isoformat()],
        "current": [(AT + timedelta(minutes=5)).isoformat(), (AT + timedelta(hours=1)).isoformat()],
    }
    rows = [(start + timedelta(minutes=m), key, 4, 1.0 + m / 100, 0.5, 1.5)
            for key, start in ((1, baseline_at), (2, AT), (3, AT + timedelta(hours=2))) for m in range(70)]  # fmt: skip
    return SimpleNamespace(
        rows=[{"name": "latency_ms", "unit": "ms", "failed": True, "windows": windows}],
        series={"latency_ms": sorted(rows)},
        deploy=DeployMark(2, "v2", AT),
        baseline=DeployMark(1, "v1", baseline_at),
    )


def _points() -> list[TimelinePoint]:
    verdicts = [Verdict("healthy", "impact: healthy", "drift: no report"), Verdict("degraded", "impact: x", "drift: y")]
    return [
        TimelinePoint(i, f"svc · {env}", AT - timedelta(hours=i), f"v{i}", "abc1234def", "dana", "m:1", verdicts[i % 2])
        for i, env in enumerate(["production", "staging"] * 3)
    ]


def _trend() -> list[dict]:
    keys = ("deploys", "code_deploys", "model_deploys", "lead_time_hours", "change_failure_rate",
            "time_to_restore_hours")  # fmt: skip
    return [{"week_end": AT - timedelta(weeks=w), **dict.fromkeys(keys, 1.0)} for w in range(3)]


def _every_chart() -> list[dict]:
    section = _impact_section(0.1)
    split = _impact_section(3)
    side = SimpleNamespace(deploy=DeployMark(2, "v2", AT), windows=split.rows[0]["windows"], series=split.series)
    drift = drift_charts(
        [
            {"column": "age", "verdict": "drifted", "severity": 2.0, "method": "psi", "score": 0.3, "threshold": 0.1,
             "histogram": {"edges": [0, 1, 2], "ref": [0.5, 0.5], "cur": [0.2, 0.8]}},
            {"column": "country", "verdict": "stable", "severity": 0.1, "method": "jensenshannon", "score": 0.01,
             "threshold": 0.1, "bins": [{"label": "fr", "ref": 3, "cur": 1}, {"label": "de", "ref": 1, "cur": 3}]},
        ]
    )  # fmt: skip
    points = _points()
    return [
        *impact_figures(section),
        *impact_figures(split),
        *compare_figures([side, side], {"latency_ms": "ms"}),
        drift["bars"],
        *drift["overlays"].values(),
        timeline_figure(points, "/p/deploys/", (AT - timedelta(days=7), None), AT),
        service_metric_figure("latency_ms", {"production": [(AT, 1.0), (AT + timedelta(hours=1), 2.0)]}, points),
        drift_share_figure(points, {p.id: 0.25 for p in points}),
        *dora_trend_figures(_trend()),
    ]


def test_every_chart_the_pages_draw_is_a_valid_plotly_figure():
    charts = _every_chart()
    assert len(charts) == 14
    for chart in charts:
        _valid(chart)


def test_a_deploy_whose_baseline_ran_days_before_gets_two_panels_over_one_y_axis():
    [one] = impact_figures(_impact_section(0.1))
    [two] = impact_figures(_impact_section(3))
    assert "xaxis2" not in one["layout"]
    assert two["layout"]["yaxis2"]["matches"] == "y"
    assert {t["xaxis"] for t in two["data"]} == {"x", "x2"}
    assert [a["text"] for a in two["layout"]["annotations"]].count("⋯ 3.0 days later ⋯") == 1


@pytest.mark.parametrize("count", [1, 2, 3])
def test_panels_are_laid_out_as_make_subplots_lays_them_out(count):
    ours = figure()
    side_by_side(ours, count, spacing=0.05)
    theirs = _plotly(make_subplots(rows=1, cols=count, shared_yaxes=True, horizontal_spacing=0.05))
    axes = {k: v for k, v in theirs["layout"].items() if k.startswith(("xaxis", "yaxis"))}
    assert {k: v for k, v in ours["layout"].items() if k != "template"} == axes


def test_spanning_shapes_are_what_plotly_adds():
    ours = figure([on_panel(trace("scatter", x=[1], y=[1]), 2)])
    side_by_side(ours, 2, spacing=0.05)
    vrect(ours, AT, AT + timedelta(hours=1), colour="#123456", opacity=0.08, column=2, label="w", position="top right")
    theirs = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05)
    theirs.add_trace(go.Scatter(x=[1], y=[1]), row=1, col=2)
    theirs.add_vrect(
        x0=AT, x1=AT + timedelta(hours=1), fillcolor="#123456", opacity=0.08, line_width=0, annotation_text="w",
        annotation_position="top right", annotation_font_size=10, row=1, col=2,
    )  # fmt: skip
    for key in ("shapes", "annotations"):
        assert ours["layout"][key] == _plotly(theirs)["layout"][key]

    ours, theirs = figure(), go.Figure()
    vline(ours, AT, line={"color": "red", "dash": "dot"})
    hline(ours, 1.0, line={"color": "blue", "dash": "dash"}, label="threshold")
    theirs.add_vline(x=AT, line={"color": "red", "dash": "dot"})
    theirs.add_hline(y=1.0, line_dash="dash", line_color="blue", annotation_text="threshold")
    for key in ("shapes", "annotations"):
        assert ours["layout"][key] == _plotly(theirs)["layout"][key]


def test_times_are_written_as_plotly_writes_them():
    assert iso([AT]) == [_plotly(go.Figure(go.Scatter(x=[AT], y=[1])))["data"][0]["x"][0]]


def test_the_timeline_service_and_dora_theme_is_the_cartesian_part_of_simple_white():
    simple_white = _plotly(go.Figure(layout={"template": "simple_white"}))["layout"]["template"]["layout"]
    for key, value in SIMPLE_WHITE["layout"].items():
        assert value.items() <= simple_white[key].items() if key in ("xaxis", "yaxis") else value == simple_white[key]
    assert THEME["layout"].keys() <= SIMPLE_WHITE["layout"].keys()
