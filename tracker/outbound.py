"""Outbound HTTP for alert deliveries, rollback requests and metric-store queries.

Three pieces, shared by the apps that call out:
- `check_url`: the SSRF guard, run when a URL is saved and again before every send;
- `send`: one POST to the address the guard checked (no second DNS lookup, so a rebinding
  name cannot swap in an internal address), no redirects, connect 5 s, and a wall-clock deadline
  for the whole attempt (15 s by default) that a receiver cannot stretch by answering slowly,
  returning an `Attempt` record that says whether to retry; `fetch` is its reading twin (GET, or POST of a
  form, the whole answer up to a size limit) under the same guard and deadline;
- `retry_delay` / `parse_retry_after`: exponential backoff with jitter that honours Retry-After.

Pure module: no Django imports. The Django side passes the settings in as an `OutboundPolicy`.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
EXCERPT_BYTES = 1024
USER_AGENT = "DeployTracker/1 (+outbound)"

# Python 3.11's `is_global` misses several ranges (NAT64, 6to4, IPv4-compatible, multicast),
# so IPv4 is checked against an explicit list of special-purpose blocks (RFC 6890 and
# successors) and IPv6 must be global unicast 2000::/3 minus the special blocks inside it.
_V4_NOT_GLOBAL = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_NOT_GLOBAL = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "64:ff9b::/96",  # NAT64 well-known prefix: reaches whatever IPv4 address it embeds
        "64:ff9b:1::/48",  # NAT64 local-use
        "2001::/23",  # IETF protocol assignments, Teredo included
        "2001:db8::/32",
        "2002::/16",  # 6to4: embeds an IPv4 address
        "3fff::/20",
    )
)


class TransportError(Exception):
    """An outbound call did not succeed; `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class UnsafeURLError(TransportError):
    """The URL fails the SSRF guard. Always permanent: the same URL will fail again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class UnresolvableHostError(TransportError):
    """DNS gave no answer. Refused when saving; retried when sending (DNS outages pass)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


@dataclass(frozen=True)
class OutboundPolicy:
    """The settings: what relaxes the guard for self-hosted receivers and tests, and the attempt's deadline."""

    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    # Wall-clock seconds one attempt may take, from the DNS lookup to the last byte read.
    deadline: float = TOTAL_TIMEOUT

    @classmethod
    def from_settings(cls, settings: object) -> OutboundPolicy:
        """Build from any object with the `OUTBOUND_*` settings (missing ones keep their defaults)."""
        return cls(
            allow_http=bool(getattr(settings, "OUTBOUND_ALLOW_HTTP", False)),
            allowed_networks=parse_networks(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", "")),
            deadline=float(getattr(settings, "OUTBOUND_TIMEOUT_SECONDS", TOTAL_TIMEOUT)),
        )

    def permits(self, address: IPAddress) -> bool:
        address = unwrap(address)
        return is_global_address(address) or any(address in net for net in self.allowed_networks)


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the guard, with the addresses it resolved to (all of them checked)."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Attempt:
    """What one outbound try did; stored as the attempt log and used to plan the retry."""

    status_code: int | None = None
    latency_ms: int = 0
    response_excerpt: str = ""
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False
    address: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver says this endpoint no longer exists (disable the channel)."""
        return self.status_code == 410

    def raise_for_outcome(self) -> None:
        if not self.ok:
            raise TransportError(self.error, permanent=self.permanent, retry_after=self.retry_after)


def parse_networks(value: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """`"127.0.0.0/8, 10.0.0.0/8"` or a list of CIDRs; a bad entry raises ValueError."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def unwrap(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_global_address(address: IPAddress) -> bool:
    address = unwrap(address)
    if isinstance(address, ipaddress.IPv4Address):
        return not any(address in net for net in _V4_NOT_GLOBAL) and address.is_global
    return address in _V6_GLOBAL_UNICAST and not any(address in net for net in _V6_NOT_GLOBAL) and address.is_global


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host, in its order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHostError(f"host {host!r} does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# inet_aton accepts 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 for 127.0.0.1; such spellings
# are how filters get bypassed, and no real receiver needs them.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def check_url(url: str, *, policy: OutboundPolicy, resolve: Resolver = resolve_host) -> CheckedURL:
    """Refuse a URL that could reach a non-global address; return what was checked."""
    if not isinstance(url, str) or not url or len(url) > 2048 or _FORBIDDEN_CHARS.search(url):
        raise UnsafeURLError("URL is empty, too long or contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise UnsafeURLError("URL cannot be parsed") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_http):
        raise UnsafeURLError("URL must use https://" + (" or http://" if policy.allow_http else ""))
    if "@" in parts.netloc:
        raise UnsafeURLError("URL must not carry a user name or password")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURLError("URL has an invalid port") from exc
    host = _normalise_host(parts.hostname or "")
    addresses = _host_addresses(host, port, resolve)
    for address in addresses:
        if not policy.permits(address):
            raise UnsafeURLError(f"URL host {host} resolves to {address}, which is not a public address")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckedURL(url, scheme, host, port, target, tuple(str(unwrap(a)) for a in addresses))


def url_hint(url: str) -> str:
    """What pages and logs show of a stored URL: scheme, host and port only (the path often is the credential)."""
    scheme, host, port = _origin(url)
    host = f"[{host}]" if ":" in host else host
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}{f':{port}' if port and port != default else ''}/…"


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs reach the same receiver: scheme, host and port alike (paths may differ)."""
    return _origin(a) == _origin(b)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip("."), port


def _normalise_host(host: str) -> str:
    host = host.rstrip(".")
    if not host:
        raise UnsafeURLError("URL has no host")
    try:
        return host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError as exc:
        raise UnsafeURLError("URL host is not a valid domain name") from exc


def _host_addresses(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        raise UnsafeURLError(f"URL host {host} is a non-standard numeric address; write it as a dotted quad")
    resolved = resolve(host, port)
    if not resolved:
        raise UnresolvableHostError(f"host {host!r} does not resolve")
    return [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]


class Deadline:
    """One attempt's wall-clock budget; when it runs out, the attempt's connection is shut down.

    Socket timeouts bound each read, not the exchange: a receiver dripping one byte at a time into
    the TLS handshake, the status line or the headers keeps every read short and could hold a worker
    for as long as it liked. A timer that shuts the socket down makes the blocked read return at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    @property
    def passed(self) -> bool:
        """Past the deadline, whether the timer or a socket timeout (set to the time left) noticed first."""
        return self.expired or self.remaining() == 0.0

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock`'s connection down at the deadline (now, if it has passed)."""
        # A duplicate descriptor: TLS takes the original over, but shutdown() acts on the connection.
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                _shutdown(duplicate)

    def bounded(self, resolve: Resolver) -> Resolver:
        """`resolve` that gives up when the deadline passes (the system resolver has no timeout of its own)."""

        def lookup(host: str, port: int) -> Sequence[str]:
            answer: list[Sequence[str] | BaseException] = []
            worker = threading.Thread(target=_capture, args=(resolve, host, port, answer), daemon=True)
            worker.start()
            worker.join(self.remaining())
            if not answer:
                raise UnresolvableHostError(f"DNS lookup of {host!r} took longer than the {self.seconds:g} s deadline")
            if isinstance(answer[0], BaseException):
                raise answer[0]
            return answer[0]

        return lookup

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _capture(resolve: Resolver, host: str, port: int, answer: list) -> None:
    try:
        answer.append(resolve(host, port))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
        answer.append(exc)


def _shutdown(sock: socket.socket) -> None:
    # OSError: already closed, or never connected; either way nothing is left to stop.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A connection whose socket the attempt's deadline watches from the moment it exists."""

    def __init__(self, *args: object, deadline: Deadline, **kwargs: object) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        # Watched before any TLS handshake, which a receiver could drip too.
        sock = super()._new_conn()  # type: ignore[misc]
        self._deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def send(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    policy: OutboundPolicy,
    resolve: Resolver = resolve_host,
    connect_timeout: float = CONNECT_TIMEOUT,
    total_timeout: float | None = None,
    ca_certs: str | None = None,
) -> Attempt:
    """POST `body` to `url` through the guard, within the deadline; never raises for network or HTTP failures."""
    started = time.monotonic()
    with Deadline(total_timeout or policy.deadline) as deadline:
        try:
            checked = check_url(url, policy=policy, resolve=deadline.bounded(resolve))
        except TransportError as exc:
            return Attempt(error=exc.message, permanent=exc.permanent, latency_ms=_ms_since(started))
        address = checked.addresses[0]
        pool = _pool(checked, address, min(connect_timeout, deadline.remaining()), deadline, ca_certs)
        try:
            response = pool.urlopen(
                "POST",
                checked.target,
                body=body,
                headers={"User-Agent": USER_AGENT, **headers, "Host": checked.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            if deadline.passed:
                # http.client takes the end of a cut-off connection for the end of the headers.
                response.close()
                raise TimeoutError("the deadline passed before the headers were complete")
            excerpt = _read_excerpt(response, deadline)
        except (Urllib3Error, OSError) as exc:
            error = _past_deadline(deadline) if deadline.passed else _describe(exc)
            return Attempt(error=error, latency_ms=_ms_since(started), address=address)
        finally:
            pool.close()
    return _classify(response, excerpt, _ms_since(started), address)


@dataclass(frozen=True)
class Fetched:
    """What one `fetch` got back: the status and the whole body (up to the limit), or why there is none."""

    status_code: int | None = None
    body: bytes = b""
    error: str = ""
    permanent: bool = False
    latency_ms: int = 0


def fetch(
    url: str,
    *,
    policy: OutboundPolicy,
    method: str = "GET",
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = 16 * 1024 * 1024,
    resolve: Resolver = resolve_host,
    connect_timeout: float = CONNECT_TIMEOUT,
    total_timeout: float | None = None,
    ca_certs: str | None = None,
) -> Fetched:
    """GET `url` (or POST `form` url-encoded) through the guard within the deadline and read the whole answer.

    The same guard, pinned address, no redirects and wall-clock deadline as `send`; for reading an API (a
    metric store's query endpoint) rather than notifying a receiver. Never raises for network or HTTP failures.
    """
    started = time.monotonic()
    with Deadline(total_timeout or policy.deadline) as deadline:
        try:
            checked = check_url(url, policy=policy, resolve=deadline.bounded(resolve))
        except TransportError as exc:
            return Fetched(error=exc.message, permanent=exc.permanent, latency_ms=_ms_since(started))
        pool = _pool(checked, checked.addresses[0], min(connect_timeout, deadline.remaining()), deadline, ca_certs)
        body = urlencode(form).encode() if form is not None else None
        extra = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        try:
            response = pool.urlopen(
                method,
                checked.target,
                body=body,
                headers={"User-Agent": USER_AGENT, **extra, **(headers or {}), "Host": checked.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            if deadline.passed:
                response.close()
                raise TimeoutError("the deadline passed before the headers were complete")
            data = _read_all(response, deadline, max_bytes)
        except (Urllib3Error, OSError) as exc:
            error = _past_deadline(deadline) if deadline.passed else _describe(exc)
            return Fetched(error=error, latency_ms=_ms_since(started))
        finally:
            pool.close()
    return Fetched(status_code=response.status, body=data, latency_ms=_ms_since(started))


def _read_all(response: urllib3.BaseHTTPResponse, deadline: Deadline, max_bytes: int) -> bytes:
    """The whole body; an answer cut short by the deadline or longer than `max_bytes` is an error, not a body."""
    chunks, size = [], 0
    try:
        while True:
            chunk = response.read1(65536)
            if deadline.passed:
                raise TimeoutError("the deadline passed while the answer was being read")
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise OSError(f"the answer is larger than {max_bytes} bytes")
            chunks.append(chunk)
    finally:
        response.close()


def _past_deadline(deadline: Deadline) -> str:
    return f"timed out: no complete answer within the {deadline.seconds:g} s deadline"


def _pool(
    checked: CheckedURL, address: str, connect: float, deadline: Deadline, ca_certs: str | None
) -> urllib3.HTTPConnectionPool:
    # The pool dials the checked IP; TLS still verifies the certificate for the URL's host
    # name (SNI + hostname check) and the Host header names it too.
    total = max(deadline.remaining(), 0.001)
    timeout = urllib3.Timeout(connect=max(connect, 0.001), read=total, total=total)
    if checked.scheme == "http":
        return _WatchedHTTPConnectionPool(address, checked.port, timeout=timeout, retries=False, deadline=deadline)
    return _WatchedHTTPSConnectionPool(
        address,
        checked.port,
        timeout=timeout,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_certs or certifi.where(),
        server_hostname=checked.host,
        assert_hostname=checked.host,
        deadline=deadline,
    )


def _read_excerpt(response: urllib3.BaseHTTPResponse, deadline: Deadline) -> str:
    """The first KB of the body, read until the deadline, then the connection dropped."""
    data = b""
    try:
        while len(data) < EXCERPT_BYTES and not deadline.expired:
            try:
                chunk = response.read1(EXCERPT_BYTES - len(data))
            except (Urllib3Error, OSError):
                break  # the status is what counts; a body cut short by the deadline is only shorter
            if not chunk:
                break
            data += chunk
    finally:
        response.close()
    return data.decode("utf-8", errors="replace")


def _classify(response: urllib3.BaseHTTPResponse, excerpt: str, latency_ms: int, address: str) -> Attempt:
    """4xx other than 408/429 will not get better by retrying; 5xx, 408 and 429 may."""
    status = response.status
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    error = ""
    permanent = False
    if 300 <= status < 400:
        error, permanent = f"HTTP {status}: redirects are not followed", True
    elif status >= 400:
        error = f"HTTP {status}"
        permanent = status < 500 and status not in (408, 429)
    return Attempt(
        status_code=status,
        latency_ms=latency_ms,
        response_excerpt=excerpt,
        error=error,
        retry_after=retry_after if error else None,
        permanent=permanent,
        address=address,
        headers=dict(response.headers),
    )


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    name = type(reason).__name__
    if "Timeout" in name or "timed out" in str(reason):
        return f"timed out ({name})"
    return f"{name}: {reason}"[:500]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(
    attempt_number: int,
    *,
    base: float = 30.0,
    cap: float = 3600.0,
    retry_after: float | None = None,
    max_retry_after: float = 86400.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before try `attempt_number + 1`, after `attempt_number` failed tries (1-based).

    Exponential steps (base, 2·base, 4·base, … up to cap) with "equal jitter": a uniform draw
    in the upper half of the step, so workers retrying together spread out but never hammer.
    A Retry-After from the receiver is a floor (capped so a hostile value cannot park a page).
    """
    step = min(cap, base * 2 ** max(0, attempt_number - 1))
    delay = step / 2 + rng() * step / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay
