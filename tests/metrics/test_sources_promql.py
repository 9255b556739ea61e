"""PromQL templates and the query_range bounds (pure modules: metrics.sources.promql and .client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.sources import client, promql
from tracker.outbound import Fetched

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_it_fills_placeholders_with_escaped_values() -> None:
    rendered = promql.render('x{version="{{version}}",svc="{{ service }}"}', {"version": 'a"b\\c', "service": "s"})
    assert rendered == 'x{version="a\\"b\\\\c",svc="s"}'


def test_single_quoted_literals_escape_their_own_quote() -> None:
    assert promql.render("x{v='{{version}}'}", {"version": 'it\'s "fine"'}) == "x{v='it\\'s \"fine\"'}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("x{v={{version}}}", "must stand inside a quoted string"),
        ("x{v=`{{version}}`}", "must stand inside a quoted string"),
        ('x{v="{{release}}"}', "unknown placeholder {{release}}"),
        ('x{v="{{version}}}', "is not closed"),
        ("   ", "empty"),
        ("x" * 4001, "longer than 4000"),
    ],
)
def test_it_refuses_templates_that_cannot_be_filled_safely(template, message) -> None:
    with pytest.raises(promql.TemplateError, match=message.replace("{", "\\{").replace("}", "\\}")):
        promql.validate(template)


def test_braces_that_name_no_placeholder_are_plain_promql() -> None:
    assert promql.validate('x{a="{{", b="}}"}') == []
    assert promql.render('label_replace(x, "y", "{{ not-a-name }}", "", "")', {}) == (
        'label_replace(x, "y", "{{ not-a-name }}", "", "")'
    )


def test_the_range_is_half_open_and_pasteable() -> None:
    call = client.plan("up", start=AT, end=AT + timedelta(hours=1), step_seconds=15)
    assert call.form() == {"query": "up", "start": "2026-12-01T12:00:00Z", "end": "2026-12-01T12:59:59.999Z",
                           "step": "15s"}  # fmt: skip
    assert call.note == ""


def test_the_step_is_raised_to_stay_within_11000_points_and_says_so() -> None:
    call = client.plan("up", start=AT, end=AT + timedelta(days=1), step_seconds=1)
    points = int((call.end - call.start).total_seconds() // call.step) + 1
    assert call.step == 8 and points <= client.MAX_POINTS_PER_SERIES
    assert "step raised from 1s to 8s" in call.note


def test_an_empty_window_is_refused_before_any_call() -> None:
    with pytest.raises(client.QueryError, match="window is empty"):
        client.plan("up", start=AT, end=AT, step_seconds=15)


def _answer(status: int, body: bytes, error: str = "", permanent: bool = False):
    return lambda url, form, headers: Fetched(status_code=status, body=body, error=error, permanent=permanent)


@pytest.mark.parametrize(
    ("fetched", "reason", "transient"),
    [
        (_answer(0, b"", "timed out: no complete answer within the 2 s deadline"), "store unreachable: timed", True),
        (_answer(0, b"", "URL must use https://", permanent=True), "store unreachable: URL must", False),
        (_answer(503, b"<html>down</html>"), "the store failed (HTTP 503)", True),
        (_answer(401, b'{"status":"error","errorType":"auth","error":"no"}'), "refused the credentials", False),
        (_answer(422, b'{"status":"error","errorType":"execution","error":"too many samples"}'), "execution", False),
        (_answer(200, b'{"status":"success","data":{"resultType":"vector","result":[]}}'), "a vector result", False),
        (_answer(200, b'{"status":"success","data":{"resultType":"matrix","result":[]}}'), "no series", False),
        (_answer(200, b"not json"), "not Prometheus' JSON", False),
    ],
)
def test_every_failure_is_a_query_error_with_its_reason(fetched, reason, transient) -> None:
    call = client.plan("up", start=AT, end=AT + timedelta(minutes=5), step_seconds=15)
    with pytest.raises(client.QueryError) as raised:
        client.query_range(fetched, "http://store", call)
    assert reason in raised.value.reason and raised.value.transient is transient


def test_series_pair_by_labels_without_the_deploys_own_values() -> None:
    key = client.label_key({"__name__": "x", "version": "1.1", "pod": "a"}, {"1.1"})
    assert key == (("pod", "a"),)
