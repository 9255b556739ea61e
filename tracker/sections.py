"""Sections the apps above the core add to the project settings page, each from its own selector.

An app registers a section in its AppConfig.ready() — its template and a selector returning plain data — so
the core's page names no product app (as with the Prometheus gauges in tracker/prometheus.py). The page view
asks every registered app for its section; the template only renders what it gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracker.models import Project


@dataclass(frozen=True)
class SettingsSection:
    template: str
    data: object


@dataclass(frozen=True)
class _Source:
    template: str
    selector: Callable[[Project], object]
    position: int


_sources: dict[str, _Source] = {}


def settings_section_register(*, template: str, selector: Callable[[Project], object], position: int) -> None:
    """`position` orders the sections on the page (lower first), whatever the order the apps load in."""
    _sources[template] = _Source(template=template, selector=selector, position=position)


def settings_sections(*, project: Project) -> list[SettingsSection]:
    ordered = sorted(_sources.values(), key=lambda source: source.position)
    return [SettingsSection(template=source.template, data=source.selector(project)) for source in ordered]
