"""The pages' one voice: one format for a moment (with its zone, relative on hover) and words for stored labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from tracker.labels import human_label


def render(source: str, **context) -> str:
    return Template("{% load pages %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ("inprogress", "In progress"),
        ("in_progress", "In progress"),
        ("rolled_back", "Rolled back"),
        ("rolledback", "Rolled back"),
        ("github", "GitHub"),
        ("Github", "GitHub"),
        ("gitlab", "GitLab"),
        ("NoData", "No data"),
        ("insufficient_data", "No data"),
        ("pagerduty", "PagerDuty"),
        ("blue_green", "Blue-green"),
        ("degraded", "Degraded"),
        ("High", "High"),
        ("", "—"),
    ],
)
def test_a_stored_label_reads_as_words(stored, words):
    assert human_label(stored) == words
    assert render("{{ v|human }}", v=stored) == words


def test_a_moment_is_written_once_the_same_way_with_its_zone_and_relative_time_on_hover(settings):
    settings.TIME_ZONE = "Europe/Paris"
    with timezone.override("Europe/Paris"):
        moment = timezone.now() - timedelta(hours=3, minutes=1)
        html = render("{{ m|when }}", m=moment)
        local = timezone.localtime(moment)
    assert html == (
        f'<time datetime="{local.isoformat()}" title="3\xa0hours, 1\xa0minute ago">'
        f"{local:%Y-%m-%d %H:%M} {local.tzname()}</time>"
    )
    assert local.tzname() in ("CET", "CEST")


def test_a_moment_to_come_says_in_how_long_and_plain_text_has_no_markup():
    soon = timezone.now() + timedelta(minutes=10, seconds=30)
    assert 'title="in 10\xa0minutes"' in render("{{ m|when }}", m=soon)
    assert render("{{ m|stamp }}", m=datetime(2026, 12, 6, 9, 5, tzinfo=UTC)) == "2026-12-06 09:05 UTC"
    assert render("{{ m|when }}", m=None) == "—"


def test_every_page_template_writes_moments_through_the_one_filter():
    """No template formats a date itself (|date:… or |timesince) except the timeline's day headings."""
    from pathlib import Path

    offenders = []
    for path in Path(__file__).resolve().parents[2].joinpath("templates").rglob("*.html"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ("|date:" in line and 'day|date:"l, j F Y"' not in line) or "|timesince" in line:
                offenders.append(f"{path.name}:{number}")
    assert offenders == []


def test_chart_data_is_embedded_as_json_script_embeds_it():
    from django.utils.html import json_script

    value = {"name": "</script><b>&amp;</b>", "at": datetime(2026, 12, 6, 9, 5, tzinfo=UTC), "values": [1.5, None]}
    ours = render('{{ v|chart_json:"chart-data" }}', v=value)
    theirs = json_script(value, "chart-data")
    assert ours.replace(" ", "") == theirs.replace(" ", "")
    assert "</b>" not in ours and "&amp;" not in ours


def test_a_figure_whose_data_was_encoded_once_is_embedded_the_same():
    """The timeline's kept markers carry their JSON text (EncodedList): the page embeds exactly what json_script
    would embed for the same figure, with or without other keys beside the data."""
    from django.utils.html import json_script

    from tracker.script_json import EncodedList

    traces = [{"type": "scatter", "x": [datetime(2026, 12, 6, 9, 5, tzinfo=UTC)], "customdata": [["</script>&"]]}]
    for figure in ({"data": traces, "layout": {"title": {"text": "<b>x</b>"}}}, {"data": traces}):
        ours = render('{{ v|chart_json:"chart-data" }}', v={**figure, "data": EncodedList(traces)})
        theirs = json_script(figure, "chart-data")
        assert ours.replace(" ", "") == theirs.replace(" ", "")
