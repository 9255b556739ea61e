"""The Prometheus exposition of `/metrics`: the core joins the metric families each app registers.

An app registers a function returning its families (prometheus_client `Metric`s: gauges of what its
tables hold now, computed from the database at scrape time) in its AppConfig.ready(), so the core needs
to name no product app and a gauge lives beside its data. Counters of events are kept in the database too
(tracker.counters), so every gunicorn worker answers a scrape with the same totals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

FamilySource = Callable[[], Iterable[Metric]]

_sources: list[FamilySource] = []


def gauges_register(source: FamilySource) -> None:
    if source not in _sources:
        _sources.append(source)


def gauge_family(
    name: str, documentation: str, labels: Mapping[str, Iterable[str]], counted: Mapping[tuple[str, ...], float]
) -> GaugeMetricFamily:
    """A gauge with a series for every combination of the labels' values (0 unless counted), plus any other
    combination counted (a value stored before its choice was removed still shows)."""
    series = dict.fromkeys(itertools.product(*(sorted(values) for values in labels.values())), 0.0)
    series.update(counted)
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for label_values, value in sorted(series.items()):
        family.add_metric(list(label_values), value)
    return family


class _Sources:
    """A prometheus_client collector over the registered sources (read anew at every scrape)."""

    def collect(self) -> Iterable[Metric]:
        for source in _sources:
            yield from source()


def prometheus_exposition() -> str:
    """Process-independent families, in Prometheus text format (apps in INSTALLED_APPS order)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Sources())
    return generate_latest(registry).decode()
