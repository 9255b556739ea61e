"""Talking to the API: JSON over urllib, retried with backoff on network errors, 5xx and 429."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import __version__

# Statuses worth another try: the server (or a proxy in front of it) may answer differently a moment later.
RETRIABLE = frozenset({429, 500, 502, 503, 504})
MAX_DELAY = 60.0


class ApiRefused(Exception):
    """The API answered with a 4xx (or a 5xx after every retry): the request as sent will not succeed."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            self.code = str(error.get("code", ""))
            self.fields = error.get("fields") or {}
            message = f"HTTP {status} {self.code}: {error.get('message', '')}"
        else:
            self.code, self.fields = "", {}
            message = f"HTTP {status}: {str(body)[:500]}"
        super().__init__(message)


class Unreachable(Exception):
    """No answer from the API after every retry (connection refused, DNS, timeout, or 5xx throughout)."""


@dataclass
class Client:
    url: str
    token: str
    retries: int = 5
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = lambda message: None

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.request("GET", path)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, json.dumps(body).encode(), headers)

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """The answer's JSON body; retried `retries` times with exponential backoff and jitter."""
        attempt = 0
        while True:
            try:
                return self._once(method, path, data, headers or {})
            except (ApiRefused, Unreachable) as problem:
                retry_after = getattr(problem, "retry_after", None)
                if isinstance(problem, ApiRefused) and problem.status not in RETRIABLE:
                    raise
                if attempt >= self.retries:
                    if isinstance(problem, ApiRefused):
                        raise
                    raise Unreachable(f"{problem} (gave up after {attempt + 1} tries)") from None
                delay = backoff(attempt, retry_after)
                self.log(f"{method} {path}: {problem}; trying again in {delay:.1f}s")
                self.sleep(delay)
                attempt += 1

    def _once(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> Any:
        # Only http(s): the URL was checked when the client was made (main._base_url).
        request = urllib.request.Request(  # noqa: S310
            self.url.rstrip("/") + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "User-Agent": f"deploy-tracker-cli/{__version__}",
                **({"Content-Type": "application/json"} if data is not None else {}),
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _json(response.read())
        except urllib.error.HTTPError as answer:
            refused = ApiRefused(answer.code, _json(answer.read()))
            refused.retry_after = _seconds(answer.headers.get("Retry-After"))
            raise refused from None
        except (urllib.error.URLError, OSError) as problem:
            reason = getattr(problem, "reason", problem)
            raise Unreachable(f"cannot reach {self.url}: {reason}") from None


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """1, 2, 4, … seconds (capped), with full jitter on the upper half; a server's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, MAX_DELAY)
    ceiling = min(MAX_DELAY, 2.0**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
