"""Formatting filters for the drift parts of the pages (the data comes from the view's context)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def sig(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant figures, a count in full ("—" for none)."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}g}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@register.filter
def signed_sig(value: float | None, digits: int = 3) -> str:
    """A change with its sign ("+0.012", "−0.11"), to `digits` significant figures."""
    if value is None:
        return "—"
    text = f"{abs(value):.{digits}g}"
    return ("−" if value < 0 else "+") + text if value else "0"
