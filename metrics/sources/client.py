"""Prometheus' HTTP API, `query_range`, as the judge uses it: bounded ranges, the answer parsed into series,
every failure a `QueryError` whose reason a person can act on (pure module; the HTTP call is injected).

Thanos, Mimir, Cortex and VictoriaMetrics answer the same API under their own base URL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracker.outbound import Fetched

# Prometheus refuses a range of more than 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000
MIN_STEP_SECONDS = 1
# More series than this in one answer is a query to aggregate (`sum by (…)`), not one to judge series by series.
MAX_SERIES = 20
# The range's end is exclusive, as the pushed points' windows are: the last evaluation is 1 ms before it.
_END_EXCLUSIVE = timedelta(milliseconds=1)

# (url, form fields, headers) -> what came back; in production tracker.outbound.fetch with the source's policy.
Fetch = Callable[[str, Mapping[str, str], Mapping[str, str]], Fetched]


class QueryError(Exception):
    """A query gave nothing to judge. `transient`: the store was unreachable or failing, so trying again may help."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class RangeQuery:
    """One `query_range` call exactly as sent, so a person can paste it into Prometheus."""

    query: str
    start: datetime
    end: datetime
    step: int
    note: str = ""

    def form(self) -> dict[str, str]:
        return {"query": self.query, "start": _rfc3339(self.start), "end": _rfc3339(self.end), "step": f"{self.step}s"}

    def as_dict(self) -> dict[str, str | int]:
        body = {**self.form(), "step_seconds": self.step}
        return {**body, "note": self.note} if self.note else body


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    timestamps: list[float]
    values: list[float]


def plan(query: str, *, start: datetime, end: datetime, step_seconds: int) -> RangeQuery:
    """The bounded call for the window [start, end): step at least 1 s, raised when the window would need more
    than MAX_POINTS_PER_SERIES evaluations (the report says so)."""
    if end <= start:
        raise QueryError(f"the window is empty ({_rfc3339(start)} to {_rfc3339(end)})")
    step = max(MIN_STEP_SECONDS, int(step_seconds))
    last = end - _END_EXCLUSIVE
    seconds = (last - start).total_seconds()
    note = ""
    if seconds / step + 1 > MAX_POINTS_PER_SERIES:
        wanted, step = step, math.ceil(seconds / (MAX_POINTS_PER_SERIES - 1))
        note = f"step raised from {wanted}s to {step}s to stay within {MAX_POINTS_PER_SERIES} points per series"
    return RangeQuery(query, start, last, step, note)


def query_range(
    fetch: Fetch, base_url: str, call: RangeQuery, *, headers: Mapping[str, str] | None = None
) -> list[Series]:
    """The series the store returns for `call`; QueryError (with the reason) for anything not judgeable."""
    url = base_url.rstrip("/") + "/api/v1/query_range"
    got = fetch(url, call.form(), headers or {})
    if got.error:
        raise QueryError(f"store unreachable: {got.error}", transient=not got.permanent)
    body = _json(got)
    if got.status_code != 200 or body.get("status") != "success":
        raise _answer_error(got.status_code, body)
    return parse_matrix(body.get("data"))


def parse_matrix(data: object) -> list[Series]:
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise QueryError(f"the store answered a {kind or 'malformed'} result, not a range matrix")
    series = []
    for item in data["result"]:
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            points = [(float(ts), float(value)) for ts, value in item["values"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise QueryError("the store's answer is not a Prometheus range matrix") from None
        series.append(Series(labels, [ts for ts, _ in points], [v for _, v in points]))
    if not series:
        raise QueryError("the query returned no series in this window")
    if len(series) > MAX_SERIES:
        raise QueryError(
            f"the query returned {len(series)} series; at most {MAX_SERIES} are judged one by one: "
            "aggregate it (e.g. sum by (…) or histogram_quantile over sum by (le)) or narrow its selectors"
        )
    return series


def _json(got: Fetched) -> dict:
    try:
        body = json.loads(got.body)
    except ValueError:
        if got.status_code and got.status_code >= 500:
            raise QueryError(f"the store failed (HTTP {got.status_code})", transient=True) from None
        raise QueryError(f"the store's answer (HTTP {got.status_code}) is not Prometheus' JSON") from None
    if not isinstance(body, dict):
        raise QueryError(f"the store's answer (HTTP {got.status_code}) is not Prometheus' JSON")
    return body


def _answer_error(status: int | None, body: dict) -> QueryError:
    kind, message = body.get("errorType") or "error", str(body.get("error") or "no error message")[:300]
    transient = status is not None and (status >= 500 or status == 429) and kind != "bad_data"
    if status in (401, 403):
        return QueryError(f"the store refused the credentials (HTTP {status}): {message}")
    return QueryError(f"query error ({kind}, HTTP {status}): {message}", transient=transient)


def _rfc3339(at: datetime) -> str:
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{at.microsecond // 1000:03d}Z" if at.microsecond else "Z")


def label_key(labels: Mapping[str, str], own: set[str]) -> tuple[tuple[str, str], ...]:
    """What pairs a baseline series with a current one: the labels without `__name__` and without the values
    that only say which deploy it is (the arm's own version, deploy id…)."""
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__" and v not in own))
