"""Labels that Plotly draws, made literal.

Plotly renders a subset of HTML in every text it draws (titles, tick labels, trace names, hover text,
annotations): `<a href>` becomes a link, `<b>` and `<br>` apply, entities are decoded. Feature, column,
metric, version and service names come from users, so every chart label built from one goes through `plain`.
"""

from __future__ import annotations

# `&` first in meaning: a name holding "&lt;" must show "&lt;", not "<".
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plain(text: object) -> str:
    """`text` as Plotly shows it literally: its markup characters written as entities Plotly decodes."""
    return str(text).translate(_ENTITIES)
