"""Alert lifecycle, hysteresis, silences and Alertmanager-style grouping (pure: no Django, no clock).

Everything here takes `now` as an argument so the behaviour can be pinned with a frozen clock:

- `fingerprint`: one stable id per (project, rule, service, environment, deploy);
- `transition`: what a new evaluation does to an alert — open, keep, count a clean report, resolve —
  with hysteresis (a clear level below the firing threshold and a run of clean reports before
  resolving) so a statistic hovering at its threshold does not open and close an alert every minute;
- `Silence` / `Matcher`: Alertmanager matchers (=, !=, =~, !~, regexes anchored, RE2 syntax) with a time range;
- `schedule` / `flush`: one notification group per (service, environment) with Alertmanager's
  timers: the first notification waits `group_wait` so related alerts travel together, later
  changes go out on `group_interval` ticks, and an unacknowledged incident is repeated after
  `repeat_interval`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

import re2


class AlertStatus(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Signal(StrEnum):
    """What one evaluation of a rule says about a deploy."""

    BREACH = "breach"  # past the firing threshold: open, or keep open
    HOLD = "hold"  # between the clear level and the threshold: keep an open alert, open none
    CLEAR = "clear"  # below the clear level: counts towards resolving
    UNKNOWN = "unknown"  # not enough data: changes nothing


class Step(StrEnum):
    OPEN = "open"
    KEEP = "keep"
    COUNT_CLEAN = "count_clean"
    RESOLVE = "resolve"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Timing:
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)


@dataclass(frozen=True)
class Hysteresis:
    clear_ratio: float = 0.8  # an open alert stays open until its statistic falls below 80 % of the threshold
    clean_reports: int = 3  # consecutive clean reports before an open alert resolves


DEFAULT_TIMING = Timing()
DEFAULT_HYSTERESIS = Hysteresis()


def fingerprint(*, project: str, rule: str, service: str, environment: str, deploy: str) -> str:
    """Stable across restarts and workers: a hash of the five names, not of object ids in memory."""
    raw = f"{project}\x1f{rule}\x1f{service}\x1f{environment}\x1f{deploy}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def group_key(*, project: str, service: str, environment: str) -> str:
    """The notification group (and PagerDuty dedup_key) of a service in an environment."""
    raw = f"{project}\x1f{service}\x1f{environment}"
    return "dt-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def transition(
    *,
    status: AlertStatus | None,
    clean_streak: int,
    signal: Signal,
    final: bool,
    hysteresis: Hysteresis = DEFAULT_HYSTERESIS,
) -> Step:
    """The lifecycle step for an alert (`status` None: no open alert for this fingerprint).

    A final report (the deploy's observation window has ended) resolves on its first clean
    reading, because no later report will come to complete the run.
    """
    is_open = status in (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)
    if not is_open:
        return Step.OPEN if signal is Signal.BREACH else Step.NOTHING
    if signal in (Signal.BREACH, Signal.HOLD):
        return Step.KEEP
    if signal is Signal.UNKNOWN:
        return Step.NOTHING
    if final or clean_streak + 1 >= hysteresis.clean_reports:
        return Step.RESOLVE
    return Step.COUNT_CLEAN


def signal_for(
    value: float | None, threshold: float, *, is_open: bool, hysteresis: Hysteresis = DEFAULT_HYSTERESIS
) -> Signal:
    """A value judged against a firing threshold (value >= threshold fires) and its clear level."""
    if value is None:
        return Signal.UNKNOWN
    if value >= threshold:
        return Signal.BREACH
    if is_open and value >= threshold * hysteresis.clear_ratio:
        return Signal.HOLD
    return Signal.CLEAR


# --- silences -----------------------------------------------------------------------------------

MATCH_OPERATORS = ("=", "!=", "=~", "!~")
MAX_MATCHER_NAME = 100
MAX_MATCHER_VALUE = 1000
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Linear: the value is taken whole and trimmed afterwards (a lazy group before `\s*` went quadratic on spaces).
_MATCHER_TEXT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)")


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's mistake, answered to them, not logged
    return options


_RE2_OPTIONS = _re2_options()


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re2._Regexp:
    """RE2, the engine behind Go's regexp and so Alertmanager: time linear in the label's length, never
    backtracking (Python's re took > 8 s on `(.*.*)*!` against 23 characters). Compiled once per process."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"{pattern!r} is not a valid RE2 regular expression (the syntax of Alertmanager): {reason}"
        ) from None


def _check_text(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise ValueError(f"a matcher {what} has at most {limit} characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError(f"a matcher {what} must be valid text (it holds a lone surrogate)") from None


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    op: str = "="

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPERATORS:
            raise ValueError(f"matcher operator must be one of {', '.join(MATCH_OPERATORS)}")
        _check_text("name", self.name, MAX_MATCHER_NAME)
        if not _LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a label name (letters, digits and _, not starting with a digit)")
        _check_text("value", self.value, MAX_MATCHER_VALUE)
        if self.op in ("=~", "!~"):
            _compiled(self.value)  # a bad pattern fails when the silence is created, not when it is matched

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        # Alertmanager anchors regex matchers at both ends.
        found = _compiled(self.value).fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def matches_empty(self) -> bool:
        """Alertmanager's test for a matcher that selects nothing: a positive one that an absent label satisfies."""
        return self.op in ("=", "=~") and self.matches({})

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`service=fraud-scorer`, `environment!=staging`, `rule=~drift.*`."""
        found = _MATCHER_TEXT.fullmatch(text.strip())
        if not found:
            raise ValueError(f"{text[:100]!r} is not a matcher like name=value, name!=value, name=~regex")
        name, op, value = found.groups()
        return cls(name=name, value=value.strip().strip('"'), op=op)


@dataclass(frozen=True)
class Silence:
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and all(m.matches(labels) for m in self.matchers)

    def state(self, now: datetime) -> str:
        return silence_state(self.starts_at, self.ends_at, now)


def silence_state(starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """Alertmanager's words: pending before it starts, active while it mutes, expired after."""
    if now < starts_at:
        return "pending"
    return "active" if now < ends_at else "expired"


def is_silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> bool:
    return any(s.mutes(labels, now) for s in silences)


# --- grouping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    """What grouping needs to know about one alert of the group."""

    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupState:
    """Stored per group between flushes (the Django model persists these fields)."""

    next_flush_at: datetime | None = None
    last_flush_at: datetime | None = None
    last_notified_at: datetime | None = None
    notified_firing: frozenset[str] = frozenset()
    notified_acknowledged: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Notification:
    """One message to every channel of the group; `event_action` is PagerDuty's word for it."""

    reason: str  # firing, update, acknowledged, resolved or repeat
    event_action: str  # trigger, acknowledge or resolve
    firing: tuple[str, ...]
    acknowledged: tuple[str, ...]
    resolved: tuple[str, ...]


def schedule(state: GroupState, now: datetime, timing: Timing = DEFAULT_TIMING, *, urgent: bool = False) -> GroupState:
    """An alert of the group opened, changed or closed: when should the group next flush?

    A person's acknowledgement or resolution is urgent (PagerDuty should stop paging now);
    machine changes wait for group_wait (a new group) or the next group_interval tick.
    """
    if urgent:
        return replace(state, next_flush_at=now)
    if state.next_flush_at is not None:
        return state
    if state.last_flush_at is None:
        return replace(state, next_flush_at=now + timing.group_wait)
    return replace(state, next_flush_at=max(now, state.last_flush_at + timing.group_interval))


def flush(
    state: GroupState,
    alerts: Iterable[AlertView],
    silences: Iterable[Silence],
    now: datetime,
    timing: Timing = DEFAULT_TIMING,
) -> tuple[Notification | None, GroupState]:
    """Decide whether the group notifies now, and the state to store after the decision.

    `alerts` are the group's open alerts plus the resolved ones it has notified as firing.
    """
    alerts, silences = list(alerts), list(silences)
    open_alerts = [a for a in alerts if a.status is not AlertStatus.RESOLVED]
    visible = [a for a in open_alerts if not is_silenced(a.labels, silences, now)]
    firing = frozenset(a.fingerprint for a in visible)
    acked = frozenset(a.fingerprint for a in visible if a.status is AlertStatus.ACKNOWLEDGED)
    resolved_fps = {a.fingerprint for a in alerts if a.status is AlertStatus.RESOLVED}
    resolved = (state.notified_firing & resolved_fps) - firing
    reason = _reason(state, firing, acked, resolved, now, timing)
    notification = _notification(reason, firing, acked, resolved) if reason else None
    return notification, _after_flush(state, notification, firing, acked, bool(open_alerts), now, timing)


def _reason(
    state: GroupState,
    firing: frozenset[str],
    acked: frozenset[str],
    resolved: frozenset[str],
    now: datetime,
    timing: Timing,
) -> str | None:
    if firing - state.notified_firing:
        return "firing" if not state.notified_firing else "update"
    if resolved:
        return "resolved" if not firing else "update"
    if firing and acked == firing and state.notified_acknowledged != firing:
        return "acknowledged"
    # An acknowledged incident is being worked on: repeating it would only add noise.
    due = state.last_notified_at is not None and now - state.last_notified_at >= timing.repeat_interval
    if firing - acked and due:
        return "repeat"
    return None


def _notification(reason: str, firing: frozenset[str], acked: frozenset[str], resolved: frozenset[str]) -> Notification:
    if not firing:
        action = "resolve"
    elif acked == firing:
        action = "acknowledge"
    else:
        action = "trigger"
    return Notification(reason, action, tuple(sorted(firing)), tuple(sorted(acked)), tuple(sorted(resolved)))


def _after_flush(
    state: GroupState,
    notification: Notification | None,
    firing: frozenset[str],
    acked: frozenset[str],
    any_open: bool,
    now: datetime,
    timing: Timing,
) -> GroupState:
    notified_at = now if notification else state.last_notified_at
    if not any_open:
        # Nothing open: the group goes idle, and a new alert waits group_wait again.
        return GroupState(last_notified_at=notified_at)
    # Keep ticking while anything is open, silenced alerts included, so one whose silence
    # expires is noticed on the next tick.
    return GroupState(
        next_flush_at=now + timing.group_interval,
        last_flush_at=now,
        last_notified_at=notified_at,
        notified_firing=firing,
        notified_acknowledged=acked if notification else state.notified_acknowledged & firing,
    )
