"""The Prometheus exposition of `/metrics`: the core joins the gauges each app registers for the data it owns.

An app registers a function returning its exposition lines in its AppConfig.ready(), so the core needs to
name no product app and a new gauge lives beside its data.
"""

from __future__ import annotations

from collections.abc import Callable

GaugeSource = Callable[[], list[str]]

_sources: list[GaugeSource] = []


def gauges_register(source: GaugeSource) -> None:
    if source not in _sources:
        _sources.append(source)


def prometheus_exposition() -> str:
    """Process-independent gauges from the database, in Prometheus text format (apps in INSTALLED_APPS order)."""
    return "".join(f"{line}\n" for source in _sources for line in source())
