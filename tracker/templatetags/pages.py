"""The pages' one voice: one way to write a moment, one word for each stored label.

`{{ value|when }}` writes a moment as `<time datetime="…" title="5 minutes ago">2026-12-06 09:05 UTC</time>` (the
project's time zone, named; relative time on hover); `{{ value|stamp }}` is the same text where markup cannot go
(an <option>, an attribute). `{{ value|human }}` turns a stored enum ("inprogress", "rolled_back", "github",
"NoData") into the words people read ("In progress", "Rolled back", "GitHub", "No data"). `{{ figure|chart_json:"id" }}`
embeds a chart's data as json_script does, faster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil

from tracker.labels import human_label
from tracker.script_json import EncodedList, script_json

register = template.Library()


@register.filter
def stamp(value: datetime | None) -> str:
    """A moment as plain text in the one format: date, minutes, time zone ("—" for none)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    # "2026-12-06 09:05 UTC", written directly: Django's date format ("Y-m-d H:i T") is ~10x slower per moment.
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@register.filter
def relative(value: datetime | None) -> str:
    """ "5 minutes ago" or "in 3 minutes"."""
    if value is None:
        return ""
    now = timezone.now()
    if abs((now - value).total_seconds()) < 60:
        return "just now"
    return f"in {timeuntil(value, now)}" if value > now else f"{timesince(value, now)} ago"


@register.filter
def when(value: datetime | None) -> str:
    """A moment as the pages write it, with its relative time on hover."""
    if value is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', timezone.localtime(value).isoformat(), relative(value), stamp(value)
    )


@register.filter
def human(value: object) -> str:
    """A stored label in words: "rolled_back" → "Rolled back", "github" → "GitHub", "NoData" → "No data"."""
    return human_label(value)


@register.filter
def chart_json(value: Any, element_id: str) -> SafeString:
    """json_script's <script type="application/json"> with the same escapes; a figure whose data is an
    EncodedList (kept between requests) writes that list's text as made once."""
    if isinstance(value, dict) and isinstance(value.get("data"), EncodedList):
        rest = script_json({key: item for key, item in value.items() if key != "data"})
        escaped = '{"data":' + value["data"].text + ("}" if rest == "{}" else "," + rest[1:])
    else:
        escaped = script_json(value)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, mark_safe(escaped))  # noqa: S308 (escaped by script_json)
