"""The SSRF guard and the pinned sender (tracker/outbound.py), against a real receiver on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.hostile_receiver import DrippingReceiver
from tests.receiver import Receiver, Reply
from tracker import outbound
from tracker.outbound import OutboundPolicy, UnsafeURLError, check_url, parse_retry_after, retry_delay, send

STRICT = OutboundPolicy()
LOOPBACK_ALLOWED = OutboundPolicy(allow_http=True, allowed_networks=outbound.parse_networks("127.0.0.0/8"))


def public_dns(host: str, port: int) -> list[str]:
    """A stand-in resolver so the tests do not depend on the machine's DNS."""
    table = {
        "hooks.example.com": ["93.184.215.14"],
        "internal.example.com": ["10.0.0.5"],
        "mixed.example.com": ["93.184.215.14", "192.168.1.10"],
        "cgnat.example.com": ["100.64.3.4"],
        "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
        "mapped.example.com": ["::ffff:127.0.0.1"],
        "v6.example.com": ["2606:4700::6810:84e5"],
        "receiver.test": ["127.0.0.1"],
    }
    if host == "localhost":
        return outbound.resolve_host(host, port)
    if host not in table:
        raise outbound.UnresolvableHostError(f"host {host!r} does not resolve")
    return table[host]


REFUSED_URLS = [
    ("http://hooks.example.com/x", "https"),
    ("file:///etc/passwd", "https"),
    ("gopher://hooks.example.com/", "https"),
    ("https://127.0.0.1/x", "not a public address"),
    ("https://localhost/x", "not a public address"),
    ("https://0.0.0.0/x", "not a public address"),
    ("https://[::1]/x", "not a public address"),
    ("https://169.254.169.254/latest/meta-data/", "not a public address"),
    ("https://100.64.0.1/x", "not a public address"),
    ("https://[::ffff:127.0.0.1]/x", "not a public address"),
    ("https://[::ffff:7f00:1]/x", "not a public address"),
    ("https://[64:ff9b::7f00:1]/x", "not a public address"),
    ("https://[fe80::1]/x", "not a public address"),
    ("https://[fc00::1]/x", "not a public address"),
    ("https://[2002:7f00:1::1]/x", "not a public address"),
    ("https://2130706433/x", "numeric"),
    ("https://0x7f000001/x", "numeric"),
    ("https://0177.0.0.1/x", "numeric"),
    ("https://127.1/x", "numeric"),
    ("https://internal.example.com/x", "10.0.0.5"),
    ("https://mixed.example.com/x", "192.168.1.10"),
    ("https://cgnat.example.com/x", "100.64.3.4"),
    ("https://nat64.example.com/x", "not a public address"),
    ("https://mapped.example.com/x", "not a public address"),
    ("https://user:pw@hooks.example.com/x", "user name"),
    ("https://hooks.example.com@127.0.0.1/x", "user name"),
    ("https://hooks.example.com\\@127.0.0.1/x", "backslash"),
    ("https:// hooks.example.com/x", "spaces"),
    ("https:///x", "no host"),
    ("https://hooks.example.com:99999/x", "port"),
    ("https://[::1/x", "cannot be parsed"),
    ("", "empty"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_it_refuses_unsafe_urls_when_a_channel_is_saved(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, policy=STRICT, resolve=public_dns)
    assert reason in caught.value.message
    assert caught.value.permanent


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_it_refuses_unsafe_urls_at_send_time_without_connecting(url: str, reason: str) -> None:
    with Receiver() as receiver:
        attempt = send(url, body=b"{}", headers={}, policy=STRICT, resolve=public_dns)
    assert not attempt.ok
    assert attempt.permanent
    assert reason in attempt.error
    assert attempt.status_code is None
    assert receiver.requests == []


def test_it_accepts_public_https_urls_and_reports_the_checked_addresses() -> None:
    checked = check_url("https://Hooks.Example.com/services/T1?x=1", policy=STRICT, resolve=public_dns)
    assert (checked.host, checked.port, checked.target) == ("hooks.example.com", 443, "/services/T1?x=1")
    assert checked.addresses == ("93.184.215.14",)
    assert check_url("https://v6.example.com/", policy=STRICT, resolve=public_dns).addresses == (
        "2606:4700::6810:84e5",
    )


def test_it_refuses_a_host_that_does_not_resolve_but_only_as_a_temporary_failure() -> None:
    with pytest.raises(outbound.UnresolvableHostError) as caught:
        check_url("https://nowhere.example.com/", policy=STRICT, resolve=public_dns)
    assert not caught.value.permanent


def test_it_allows_http_and_loopback_only_when_the_settings_say_so() -> None:
    policy = OutboundPolicy.from_settings(
        type("S", (), {"OUTBOUND_ALLOW_HTTP": True, "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8, 10.1.0.0/16"})
    )
    assert check_url("http://127.0.0.1:8080/x", policy=policy).addresses == ("127.0.0.1",)
    assert check_url("https://[::ffff:127.0.0.1]/x", policy=policy).addresses == ("127.0.0.1",)
    with pytest.raises(UnsafeURLError):
        check_url("http://10.2.0.1/x", policy=policy)
    with pytest.raises(UnsafeURLError):
        check_url("http://127.0.0.1:8080/x", policy=OutboundPolicy(allowed_networks=policy.allowed_networks))


def test_it_treats_special_purpose_ranges_as_not_global() -> None:
    for text in ["100.64.0.1", "64:ff9b::808:808", "64:ff9b:1::1", "192.0.0.8", "198.18.0.1", "224.0.0.1"]:
        assert not outbound.is_global_address(ipaddress.ip_address(text)), text
    for text in ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]:
        assert outbound.is_global_address(ipaddress.ip_address(text)), text


def test_it_posts_to_the_checked_address_with_the_urls_host_header() -> None:
    with Receiver() as receiver:
        url = receiver.url("/hooks/a?b=1", host="receiver.test")
        attempt = send(url, body=b'{"a":1}', headers={"X-Test": "1"}, policy=LOOPBACK_ALLOWED, resolve=public_dns)
    assert attempt.ok, attempt.error
    assert attempt.address == "127.0.0.1"
    [request] = receiver.requests
    assert request.path == "/hooks/a?b=1"
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert request.headers["x-test"] == "1"
    assert request.body == b'{"a":1}'


def test_it_records_status_latency_and_the_first_kilobyte_of_the_response() -> None:
    with Receiver([Reply(200, b"x" * 5000)]) as receiver:
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=LOOPBACK_ALLOWED)
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "x" * 1024
    assert attempt.latency_ms >= 0
    assert attempt.error == ""


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (502, False), (503, False), (408, False), (429, False), (400, True), (404, True), (410, True)],
)
def test_it_marks_client_errors_permanent_except_408_and_429(status: int, permanent: bool) -> None:
    with Receiver([Reply(status, b"nope")]) as receiver:
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=LOOPBACK_ALLOWED)
    assert (attempt.ok, attempt.status_code, attempt.permanent) == (False, status, permanent)
    assert attempt.error == f"HTTP {status}"
    assert attempt.response_excerpt == "nope"
    assert attempt.gone == (status == 410)
    with pytest.raises(outbound.TransportError) as caught:
        attempt.raise_for_outcome()
    assert caught.value.permanent == permanent


def test_it_reads_retry_after_from_a_429() -> None:
    with Receiver([Reply(429, b"slow down", {"Retry-After": "120"})]) as receiver:
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=LOOPBACK_ALLOWED)
    assert attempt.retry_after == 120.0
    assert not attempt.permanent


def test_it_does_not_follow_a_redirect_to_an_internal_address() -> None:
    with Receiver([Reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})]) as receiver:
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=LOOPBACK_ALLOWED)
    assert len(receiver.requests) == 1
    assert attempt.status_code == 302
    assert attempt.permanent
    assert "redirects are not followed" in attempt.error


def test_it_gives_up_on_a_receiver_slower_than_the_total_timeout_as_a_temporary_failure() -> None:
    with Receiver([Reply(200, b"late", delay=1.5)]) as receiver:
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=LOOPBACK_ALLOWED, total_timeout=0.5)
    assert not attempt.ok
    assert not attempt.permanent
    assert "timed out" in attempt.error
    assert 400 <= attempt.latency_ms < 1500


def test_it_reports_a_refused_connection_as_a_temporary_failure() -> None:
    receiver = Receiver()
    url = receiver.url()
    receiver.server.server_close()
    attempt = send(url, body=b"{}", headers={}, policy=LOOPBACK_ALLOWED)
    assert not attempt.ok
    assert not attempt.permanent
    assert attempt.status_code is None
    assert "Connection" in attempt.error or "refused" in attempt.error


def _tls_context_for(name: str, tmp_path) -> tuple[ssl.SSLContext, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def test_it_pins_the_checked_address_while_tls_verifies_the_urls_host_name(tmp_path) -> None:
    context, ca_file = _tls_context_for("receiver.test", tmp_path)
    policy = OutboundPolicy(allowed_networks=outbound.parse_networks("127.0.0.0/8"))
    with Receiver(tls=context) as receiver:
        url = receiver.url(host="receiver.test")
        attempt = send(url, body=b"{}", headers={}, policy=policy, resolve=public_dns, ca_certs=ca_file)
    assert attempt.ok, attempt.error
    [request] = receiver.requests
    assert request.sni == "receiver.test"
    assert request.headers["host"] == f"receiver.test:{receiver.port}"


def test_it_refuses_a_certificate_for_another_host_name(tmp_path) -> None:
    context, ca_file = _tls_context_for("someone-else.test", tmp_path)
    policy = OutboundPolicy(allowed_networks=outbound.parse_networks("127.0.0.0/8"))
    with Receiver(tls=context) as receiver:
        url = receiver.url(host="receiver.test")
        attempt = send(url, body=b"{}", headers={}, policy=policy, resolve=public_dns, ca_certs=ca_file)
    assert not attempt.ok
    assert receiver.requests == []
    assert "SSL" in attempt.error or "certificate" in attempt.error.lower()


def test_it_parses_retry_after_as_seconds_or_an_http_date() -> None:
    now = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 09:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 08:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_it_backs_off_exponentially_with_jitter_in_the_upper_half_of_each_step() -> None:
    assert [retry_delay(n, rng=lambda: 0.0) for n in (1, 2, 3, 4)] == [15.0, 30.0, 60.0, 120.0]
    assert [retry_delay(n, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [30.0, 60.0, 120.0, 240.0]
    assert retry_delay(20, rng=lambda: 1.0) == 3600.0


def test_it_never_retries_sooner_than_retry_after_and_caps_a_hostile_value() -> None:
    assert retry_delay(1, retry_after=600, rng=lambda: 0.5) == 600.0
    assert retry_delay(1, retry_after=10**9, rng=lambda: 0.5) == 86400.0


DEADLINE = 1.0


@pytest.mark.parametrize("stage", ["headers", "silent"])
def test_a_receiver_that_never_finishes_answering_is_cut_off_at_the_deadline(stage: str) -> None:
    """Dripping a byte every 0.25 s keeps every read shorter than any socket timeout: only the deadline ends it."""
    with DrippingReceiver(stage, interval=0.25) as receiver:
        started = time.monotonic()
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=replace(LOOPBACK_ALLOWED, deadline=DEADLINE))
        elapsed = time.monotonic() - started
        [connection] = receiver.wait_for(1)
    assert DEADLINE <= elapsed < DEADLINE + 0.5, elapsed
    assert not attempt.ok and not attempt.permanent and attempt.status_code is None
    assert attempt.error == "timed out: no complete answer within the 1 s deadline"
    assert DEADLINE * 1000 <= attempt.latency_ms < (DEADLINE + 0.5) * 1000
    assert b"POST /hook" in connection.request


def test_a_dripped_tls_handshake_is_cut_off_at_the_deadline_too() -> None:
    policy = OutboundPolicy(allowed_networks=outbound.parse_networks("127.0.0.0/8"), deadline=DEADLINE)
    with DrippingReceiver("tls", interval=0.25) as receiver:
        started = time.monotonic()
        attempt = send(receiver.url(host="receiver.test", scheme="https"), body=b"{}", headers={}, policy=policy,
                       resolve=public_dns)  # fmt: skip
        elapsed = time.monotonic() - started
        [connection] = receiver.wait_for(1)
    assert DEADLINE <= elapsed < DEADLINE + 0.5, elapsed
    assert "deadline" in attempt.error and not attempt.permanent
    assert connection.request.startswith(b"\x16\x03")  # it was a TLS ClientHello that got the drip


def test_a_status_that_came_in_time_counts_though_the_body_drips_past_the_deadline() -> None:
    with DrippingReceiver("body", interval=0.25) as receiver:
        started = time.monotonic()
        attempt = send(receiver.url(), body=b"{}", headers={}, policy=replace(LOOPBACK_ALLOWED, deadline=DEADLINE))
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + 0.5, elapsed
    assert attempt.ok and attempt.status_code == 200
    assert 1 <= len(attempt.response_excerpt) <= 8


def test_a_dns_lookup_slower_than_the_deadline_is_a_temporary_failure() -> None:
    def slow_dns(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["93.184.215.14"]

    started = time.monotonic()
    attempt = send("https://slow.example.com/x", body=b"{}", headers={}, policy=OutboundPolicy(deadline=DEADLINE),
                   resolve=slow_dns)  # fmt: skip
    assert time.monotonic() - started < DEADLINE + 0.5
    assert not attempt.ok and not attempt.permanent and "deadline" in attempt.error


def test_the_deadline_comes_from_the_settings() -> None:
    settings = type("S", (), {"OUTBOUND_TIMEOUT_SECONDS": 7})
    assert OutboundPolicy.from_settings(settings).deadline == 7.0
    assert OutboundPolicy.from_settings(object()).deadline == outbound.TOTAL_TIMEOUT
