"""PromQL templates: placeholders such as `{{version}}` filled with a deploy's values, escaped for the string
literal they stand in, so no label value can end the literal and change the query (pure module).

A placeholder must stand inside a double- or single-quoted string literal (`version="{{version}}"`); anywhere
else (outside any literal, or in a raw `backtick` string, which has no escapes) a value could become PromQL
syntax, so the template is refused when it is saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_QUERY_LENGTH = 4000
# The deploy's values a query may name: the design's four, and the deploy's own labels.
PLACEHOLDERS = (
    "service",
    "environment",
    "version",
    "deploy",
    "external_id",
    "commit_sha",
    "model_name",
    "model_version",
    "data_version",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """The template cannot be rendered safely; the message says where and why."""


@dataclass(frozen=True)
class _Slot:
    start: int
    end: int
    name: str
    quote: str  # '"' or "'": the literal the placeholder stands in


def validate(template: str) -> list[str]:
    """The placeholders the template uses, in order; TemplateError when it is not a safe template."""
    return [slot.name for slot in _slots(template)]


def render(template: str, values: Mapping[str, str]) -> str:
    """The query with each placeholder replaced by its value, escaped for its literal."""
    out, at = [], 0
    for slot in _slots(template):
        if slot.name not in values:
            raise TemplateError(f"no value for {{{{{slot.name}}}}}")
        out += [template[at : slot.start], escape(str(values[slot.name]), slot.quote)]
        at = slot.end
    out.append(template[at:])
    return "".join(out)


def escape(value: str, quote: str = '"') -> str:
    """`value` as the inside of a PromQL string literal quoted with `quote` (Go's escape rules)."""
    out = []
    for ch in value:
        if ch == "\\" or ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _slots(template: str) -> list[_Slot]:
    if not isinstance(template, str) or not template.strip():
        raise TemplateError("the query is empty")
    if len(template) > MAX_QUERY_LENGTH:
        raise TemplateError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    quotes = _literal_map(template)
    slots = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in PLACEHOLDERS:
            raise TemplateError(f"unknown placeholder {{{{{name}}}}}: use one of " + ", ".join(PLACEHOLDERS))
        quote = quotes[match.start()]
        if quote not in ('"', "'") or quotes[match.end() - 1] != quote:
            raise TemplateError(f'{{{{{name}}}}} must stand inside a quoted string, e.g. {name}="{{{{{name}}}}}"')
        slots.append(_Slot(match.start(), match.end(), name, quote))
    return slots


def _literal_map(template: str) -> list[str]:
    """For each character, the quote of the string literal it lies in ("" outside any); unclosed → error."""
    quotes, current, escaped = [], "", False
    for ch in template:
        if current:
            quotes.append(current)
            if escaped:
                escaped = False
            elif ch == "\\" and current != "`":
                escaped = True
            elif ch == current:
                current = ""
                quotes[-1] = ""  # the closing quote itself is outside
        else:
            if ch in "\"'`":
                current = ch
                quotes.append("")
            else:
                quotes.append("")
    if current:
        raise TemplateError(f"a string literal opened with {current} is not closed")
    return quotes
