"""`outbound.fetch`, the reading twin of `send`: same guard, pinned address, no redirects and wall-clock deadline,
the whole answer read (metric-store queries). Against real sockets on 127.0.0.1."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from tests.hostile_receiver import DrippingReceiver
from tests.receiver import Receiver, Reply
from tracker import outbound
from tracker.outbound import OutboundPolicy, fetch

LOOPBACK = OutboundPolicy(allow_http=True, allowed_networks=outbound.parse_networks("127.0.0.0/8"), deadline=1.0)


def test_it_posts_the_form_with_the_headers_and_reads_the_whole_answer() -> None:
    body = b"x" * 200_000
    with Receiver([Reply(status=200, body=body)]) as receiver:
        got = fetch(receiver.url("/api/v1/query_range"), policy=LOOPBACK, method="POST",
                    form={"query": 'up{a="b"}', "step": "15s"}, headers={"Authorization": "Bearer t"})  # fmt: skip
        [request] = receiver.wait_for(1)
    assert (got.status_code, got.body, got.error) == (200, body, "")
    assert parse_qs(request.body.decode()) == {"query": ['up{a="b"}'], "step": ["15s"]}
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("stage", ["headers", "body", "silent"])
def test_an_answer_dripped_past_the_deadline_is_an_error_not_a_short_body(stage: str) -> None:
    with DrippingReceiver(stage, interval=0.25) as receiver:
        started = time.monotonic()
        got = fetch(receiver.url(), policy=LOOPBACK)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.5, elapsed
    assert got.body == b"" and "deadline" in got.error and not got.permanent


def test_an_answer_over_the_size_limit_is_refused() -> None:
    with Receiver([Reply(status=200, body=b"y" * 5000)]) as receiver:
        got = fetch(receiver.url(), policy=LOOPBACK, max_bytes=1000)
    assert got.body == b"" and "larger than 1000 bytes" in got.error


def test_redirects_are_not_followed_and_the_guard_refuses_private_addresses() -> None:
    with Receiver([Reply(status=302, body=b"", headers={"Location": "http://169.254.169.254/"})]) as receiver:
        got = fetch(receiver.url(), policy=LOOPBACK)
    assert got.status_code == 302 and got.body == b""
    refused = fetch("http://169.254.169.254/latest/meta-data", policy=LOOPBACK)
    assert refused.permanent and "not a public address" in refused.error
