"""Plotly figures for the deploy page's impact section, built server side and embedded as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from metrics.chart_labels import plain
from metrics.chart_theme import Figure, add, iso, on_panel, panel_has_traces, side_by_side, trace, vrect, when
from metrics.chart_theme import figure as themed_figure

BASELINE_COLOUR = "#6b7a90"
CURRENT_COLOUR = "#2f6fde"
OTHER_COLOUR = "#c4ccd8"
BAD_COLOUR = "#c9372c"
# Two panels when the gap between the judged windows exceeds this many times their combined length.
SPLIT_RATIO = 1.0


def _trace(rows: list[tuple], label: str, colour: str, unit: str, width: float = 2) -> dict[str, Any]:
    suffix = f" {unit}" if unit else ""
    return trace(
        "scatter",
        x=iso(r[0] for r in rows),
        y=[r[3] for r in rows],
        mode="lines+markers" if len(rows) < 60 else "lines",
        name=plain(label),
        line={"color": colour, "width": width},
        marker={"size": 4},
        customdata=[[r[2], r[4], r[5]] for r in rows],
        hovertemplate="%{x}<br>mean %{y:.4g}" + plain(suffix) + " (n=%{customdata[0]}, min %{customdata[1]:.4g}, "
        "max %{customdata[2]:.4g})"
        "<extra>%{fullData.name}</extra>",
    )


@dataclass(frozen=True)
class DeployMark:
    """A deploy as a chart marks it: its series (by deploy id), its label, when it went out."""

    id: int
    label: str
    deployed_at: datetime


class ImpactChartData(Protocol):
    """What the charts need of the deploy page's impact section (plain data; the selector builds it)."""

    rows: list[dict[str, Any]]  # the report's metrics, each with its judged `windows`
    series: dict[str, list[tuple]]  # per metric: (minute, deploy id, count, mean, min, max)
    deploy: DeployMark
    baseline: DeployMark | None


def impact_figures(section: ImpactChartData) -> list[dict[str, Any]]:
    """One figure per judged metric, in the order of the section's rows."""
    return [metric_figure(section, metric) for metric in section.rows]


@dataclass(frozen=True)
class _Panel:
    """One x-axis of a chart: the time span it shows and the judged windows inside it."""

    start: datetime
    end: datetime
    windows: tuple[str, ...]


def metric_figure(section: ImpactChartData, metric: dict[str, Any]) -> dict[str, Any]:
    """Per-minute means across the baseline and this deploy, deploy markers, both judged windows shaded.

    When the baseline window lies far before the current one (a baseline that stopped serving days ago), the
    chart gets two panels with a shared y-axis, one per window, so neither is squashed into a sliver."""
    rows, windows = section.series.get(metric["name"], []), _windows(metric.get("windows"))
    panels = _panels(rows, windows, section.deploy.deployed_at)
    unit = metric.get("unit") or ""
    figure = themed_figure(
        title={"text": plain(f"{metric['name']} ({unit})" if unit else metric["name"]), "font": {"size": 14}},
        height=280,
        margin={"l": 50, "r": 10, "t": 36, "b": 50},
        legend={"orientation": "h", "y": -0.3},
        hovermode="x unified",
    )
    side_by_side(figure, len(panels), spacing=0.05)
    for column, panel in enumerate(panels, start=1):
        inside = [r for r in rows if panel.start <= r[0] <= panel.end]
        _add_traces(figure, section, metric, inside, column, unit)
        _shade(figure, windows, panel, column)
        figure["layout"]["xaxis" if column == 1 else f"xaxis{column}"]["range"] = iso((panel.start, panel.end))
        for mark, colour in ((section.deploy, CURRENT_COLOUR), (section.baseline, BASELINE_COLOUR)):
            if mark is not None and panel.start <= mark.deployed_at <= panel.end:
                _marker(figure, mark.deployed_at, mark.label, colour, column)
    if len(panels) == 2:
        _gap_note(figure, windows["current"][0] - windows["baseline"][1])
    if unit:
        figure["layout"]["yaxis"]["title"] = {"text": plain(unit)}
    return figure


def _add_traces(
    figure: Figure, section: ImpactChartData, metric: dict, rows: list[tuple], column: int, unit: str
) -> None:
    """The baseline, this deploy and any other deploy of the stream, one legend entry each across panels."""
    deploy, baseline = section.deploy, section.baseline
    baseline_id = baseline.id if baseline else None
    colour = BAD_COLOUR if metric.get("failed") else CURRENT_COLOUR
    groups = [
        ([r for r in rows if r[1] not in (deploy.id, baseline_id)], "other deploys", OTHER_COLOUR, 1),
        ([r for r in rows if baseline_id and r[1] == baseline_id], f"baseline {baseline and baseline.label}",
         BASELINE_COLOUR, 2),
        ([r for r in rows if r[1] == deploy.id], f"this deploy {deploy.label}", colour, 2),
    ]  # fmt: skip
    for group, label, trace_colour, width in groups:
        if group:
            shown = column == 1 or not _in_legend(figure, label)
            line = _trace(group, label, trace_colour, unit, width) | {"legendgroup": plain(label), "showlegend": shown}
            figure["data"].append(on_panel(line, column))


def _in_legend(figure: Figure, label: str) -> bool:
    return any(t["name"] == plain(label) and t.get("showlegend") is not False for t in figure["data"])


def _windows(stored: dict | None) -> dict[str, tuple[datetime, datetime]]:
    """The judged windows that have a length, as datetimes (the stored report keeps ISO strings)."""
    spans = {}
    for key in ("baseline", "current"):
        start, end = ((stored or {}).get(key) or [None, None])[:2]
        if start and end and start != end:
            spans[key] = (_as_time(start), _as_time(end))
    return spans


def _panels(rows: list[tuple], windows: dict[str, tuple[datetime, datetime]], deployed_at: datetime) -> list[_Panel]:
    """One panel framing the data and both windows, or two when the gap between the windows would take
    most of the axis (more than both windows together): each then frames its own window."""
    baseline, current = windows.get("baseline"), windows.get("current")
    if (
        baseline
        and current
        and current[0] - baseline[1] > SPLIT_RATIO * ((baseline[1] - baseline[0]) + (current[1] - current[0]))
    ):
        before = [r[0] for r in rows if r[0] <= baseline[1] + (current[0] - baseline[1]) / 2]
        after = [r[0] for r in rows if r[0] > baseline[1] + (current[0] - baseline[1]) / 2]
        return [_frame([*baseline, *before], ("baseline",)), _frame([*current, *after, deployed_at], ("current",))]
    times = [r[0] for r in rows] + [t for span in windows.values() for t in span]
    if not times:
        now = datetime.now(UTC)
        times = [now - timedelta(hours=1), now]
    return [_frame(times, tuple(windows))]


def _frame(times: list[datetime], windows: tuple[str, ...]) -> _Panel:
    start, end = min(times), max(times)
    pad = max((end - start) * 0.04, timedelta(minutes=1))
    return _Panel(start - pad, end + pad, windows)


def _as_time(value: datetime | str) -> datetime:
    # Windows come back from the stored report as ISO strings.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _shade(figure: Figure, windows: dict[str, tuple[datetime, datetime]], panel: _Panel, column: int) -> None:
    """The judged windows inside the panel, shaded; a panel with no series is left bare (as plotly.py's add_vrect
    leaves an empty subplot)."""
    shading = {"baseline": (BASELINE_COLOUR, "baseline window", "top left"),
               "current": (CURRENT_COLOUR, "judged window", "top right")}  # fmt: skip
    if not panel_has_traces(figure, column):
        return
    for key in panel.windows:
        if key in windows:
            colour, label, position = shading[key]
            vrect(figure, *windows[key], colour=colour, opacity=0.08, column=column, label=label, position=position)


def _gap_note(figure: Figure, gap: timedelta) -> None:
    """Say how far apart the two windows are, under the break between the panels."""
    hours = gap.total_seconds() / 3600
    text = f"⋯ {hours / 24:.1f} days later ⋯" if hours >= 24 else f"⋯ {hours:.0f} h later ⋯"
    add(figure, "annotations", {"x": 0.5, "y": -0.12, "xref": "paper", "yref": "paper", "text": text,
                                "showarrow": False, "font": {"size": 10, "color": "#6b7a90"}})  # fmt: skip


def _marker(figure: Figure, at: datetime, label: str, colour: str, column: int) -> None:
    xref = "x" if column == 1 else f"x{column}"
    add(figure, "shapes", {"type": "line", "x0": when(at), "x1": when(at), "y0": 0, "y1": 1, "xref": xref,
                           "yref": "paper", "line": {"color": colour, "dash": "dot", "width": 1.5}})  # fmt: skip
    add(figure, "annotations", {"x": when(at), "y": 1, "xref": xref, "yref": "paper", "text": f"deploy {plain(label)}",
                                "showarrow": False, "font": {"size": 10, "color": colour}, "xanchor": "left",
                                "yanchor": "bottom"})  # fmt: skip


COMPARE_COLOURS = (BASELINE_COLOUR, CURRENT_COLOUR)


class CompareSideData(Protocol):
    deploy: DeployMark
    windows: dict[str, list[str | None]]
    series: dict[str, list[tuple]]


def compare_figures(sides: list[CompareSideData], units: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per metric either deploy was judged on: both deploys' per-minute means on one axis of
    minutes since each went out, each judged window shaded in its deploy's colour."""
    names = sorted({name for side in sides for name in side.windows})
    return [compare_figure(name, sides, units.get(name, "")) for name in names]


def compare_figure(name: str, sides: list[CompareSideData], unit: str) -> dict[str, Any]:
    figure = themed_figure(
        title={"text": plain(f"{name} ({unit})" if unit else name), "font": {"size": 14}},
        height=260,
        margin={"l": 50, "r": 10, "t": 36, "b": 50},
        legend={"orientation": "h", "y": -0.3},
        xaxis={"title": {"text": "minutes since the deploy went out"}},
        yaxis={"title": {"text": plain(unit)} if unit else {}},
    )
    for (side, colour), letter in zip(zip(sides, COMPARE_COLOURS, strict=True), "AB", strict=True):
        went_out = side.deploy.deployed_at
        rows = side.series.get(name, [])
        minutes = [(r[0] - went_out).total_seconds() / 60 for r in rows]
        label = f"{letter}: {side.deploy.label}"
        figure["data"].append(
            trace(
                "scatter", x=minutes, y=[r[3] for r in rows], mode="lines+markers", name=plain(label),
                line={"color": colour, "width": 2}, marker={"size": 4},
                hovertemplate="%{x:.0f} min after the deploy<br>mean %{y:.4g}" + plain(f" {unit}" if unit else "")
                + "<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
        window = side.windows.get(name)
        if window and window[0] and window[1]:
            start, end = ((_as_time(t) - went_out).total_seconds() / 60 for t in window[:2])
            vrect(figure, start, end, colour=colour, opacity=0.08, label=f"{letter} judged")
    return figure
