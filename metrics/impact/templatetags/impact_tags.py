"""Formatting filters for the impact parts of the pages (the data comes from the view's context)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def num(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant figures ("—" for none)."""
    return "—" if value is None else f"{value:.{digits}g}"


@register.filter
def signed_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"
