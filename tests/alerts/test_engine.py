"""Grouping, lifecycle, hysteresis and silences of alerts/engine.py with a frozen clock.

The engine never reads the clock: every call takes `now`, so these tests step a fixed
timestamp forward by hand, exactly as a beat sweep would wake the group up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import (
    AlertStatus,
    AlertView,
    GroupState,
    Hysteresis,
    Matcher,
    Signal,
    Silence,
    Step,
    Timing,
    fingerprint,
    flush,
    group_key,
    schedule,
    signal_for,
    transition,
)

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
FIRING, ACKED, RESOLVED = AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED
LABELS = {"service": "fraud-scorer", "environment": "production", "rule": "drift-share", "severity": "error"}


def alert(fp: str, status: AlertStatus = FIRING, **labels: str) -> AlertView:
    return AlertView(fp, status, {**LABELS, **labels})


class Group:
    """Drives one notification group the way the services and the beat sweep will."""

    def __init__(self, timing: Timing | None = None) -> None:
        self.timing = timing or Timing()
        self.state = GroupState()
        self.alerts: dict[str, AlertView] = {}
        self.silences: list[Silence] = []
        self.sent: list[tuple[datetime, object]] = []

    def change(self, view: AlertView, now: datetime, *, urgent: bool = False) -> None:
        self.alerts[view.fingerprint] = view
        self.state = schedule(self.state, now, self.timing, urgent=urgent)

    def tick(self, now: datetime) -> None:
        """What the sweep does every few seconds: flush the group if it is due."""
        if self.state.next_flush_at is not None and self.state.next_flush_at <= now:
            notification, self.state = flush(self.state, self.alerts.values(), self.silences, now, self.timing)
            if notification is not None:
                self.sent.append((now, notification))

    def run(self, start: datetime, end: datetime, step: timedelta = timedelta(seconds=5)) -> None:
        now = start
        while now <= end:
            self.tick(now)
            now += step


def test_it_makes_the_same_fingerprint_from_the_same_five_names_only() -> None:
    names = {"project": "acme", "rule": "drift-share", "service": "s", "environment": "production", "deploy": "41"}
    assert fingerprint(**names) == fingerprint(**names)
    assert fingerprint(**names) != fingerprint(**{**names, "deploy": "42"})
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert fingerprint(**{**names, "service": "ab", "environment": "c"}) != fingerprint(
        **{**names, "service": "a", "environment": "bc"}
    )
    assert group_key(project="acme", service="s", environment="production").startswith("dt-")


def test_it_waits_group_wait_before_the_first_notification() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(seconds=25))
    assert group.sent == []
    group.run(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    [(at, notification)] = group.sent
    assert at == T0 + timedelta(seconds=30)
    assert (notification.reason, notification.event_action, notification.firing) == ("firing", "trigger", ("a",))


def test_it_sends_nothing_for_a_flap_inside_group_wait() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.change(alert("a", RESOLVED), T0 + timedelta(seconds=10))
    group.run(T0, T0 + timedelta(hours=5))
    assert group.sent == []
    assert group.state == GroupState()


def test_it_sends_twenty_alerts_of_one_group_as_one_notification() -> None:
    group = Group()
    for i in range(20):
        group.change(alert(f"fp{i:02}", rule=f"rule-{i}"), T0 + timedelta(seconds=i))
    group.run(T0, T0 + timedelta(minutes=4))
    [(_, notification)] = group.sent
    assert len(notification.firing) == 20


def test_it_adds_later_alerts_on_the_next_group_interval_tick_not_at_once() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(seconds=30))
    group.change(alert("b"), T0 + timedelta(minutes=1))
    group.run(T0 + timedelta(seconds=35), T0 + timedelta(minutes=5, seconds=25))
    assert len(group.sent) == 1
    group.run(T0 + timedelta(minutes=5, seconds=30), T0 + timedelta(minutes=5, seconds=30))
    at, notification = group.sent[1]
    assert at == T0 + timedelta(minutes=5, seconds=30)
    assert (notification.reason, notification.firing) == ("update", ("a", "b"))


def test_it_repeats_an_unacknowledged_incident_after_repeat_interval_and_not_before() -> None:
    group = Group()
    group.change(alert("a"), T0)
    first = T0 + timedelta(seconds=30)
    group.run(T0, first + timedelta(hours=4) - timedelta(seconds=5))
    assert [n.reason for _, n in group.sent] == ["firing"]
    group.run(first + timedelta(hours=4) - timedelta(seconds=5), first + timedelta(hours=8))
    assert [(at - first, n.reason) for at, n in group.sent] == [
        (timedelta(0), "firing"),
        (timedelta(hours=4), "repeat"),
        (timedelta(hours=8), "repeat"),
    ]


def test_it_stops_repeating_once_every_alert_is_acknowledged_and_tells_pagerduty_at_once() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(minutes=1))
    ack_at = T0 + timedelta(minutes=2)
    group.change(alert("a", ACKED), ack_at, urgent=True)
    group.tick(ack_at)
    assert [(at, n.reason, n.event_action) for at, n in group.sent[1:]] == [(ack_at, "acknowledged", "acknowledge")]
    group.run(ack_at, T0 + timedelta(hours=12))
    assert len(group.sent) == 2


def test_it_resolves_with_the_same_group_and_reopens_after_group_wait() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(minutes=1))
    resolved_at = T0 + timedelta(minutes=7)
    group.change(alert("a", RESOLVED), resolved_at)
    group.run(T0 + timedelta(minutes=1), T0 + timedelta(minutes=20))
    reasons = [(n.reason, n.event_action, n.resolved) for _, n in group.sent]
    assert reasons == [("firing", "trigger", ()), ("resolved", "resolve", ("a",))]
    assert group.state.next_flush_at is None
    # A new incident in the now idle group waits group_wait again.
    reopened = T0 + timedelta(hours=1)
    group.change(alert("b"), reopened)
    assert group.state.next_flush_at == reopened + timedelta(seconds=30)


def test_it_keeps_the_incident_open_while_one_of_two_alerts_still_fires() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.change(alert("b"), T0)
    group.run(T0, T0 + timedelta(minutes=1))
    group.change(alert("a", RESOLVED), T0 + timedelta(minutes=2))
    group.run(T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    _, update = group.sent[-1]
    assert (update.reason, update.event_action, update.firing, update.resolved) == ("update", "trigger", ("b",), ("a",))


def test_it_suppresses_a_silenced_alert_and_notifies_it_when_the_silence_ends() -> None:
    group = Group()
    group.silences = [
        Silence((Matcher("service", "fraud-scorer"), Matcher("rule", "drift-.*", "=~")), T0, T0 + timedelta(hours=1))
    ]
    group.change(alert("a"), T0 + timedelta(minutes=1))
    group.run(T0, T0 + timedelta(minutes=59))
    assert group.sent == []
    group.run(T0 + timedelta(minutes=59), T0 + timedelta(minutes=70))
    [(at, notification)] = group.sent
    assert T0 + timedelta(hours=1) <= at <= T0 + timedelta(hours=1, minutes=5)
    assert notification.firing == ("a",)


def test_it_does_not_send_a_resolve_when_an_alert_is_only_silenced() -> None:
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(minutes=1))
    group.silences = [Silence((Matcher("service", "fraud-scorer"),), T0 + timedelta(minutes=2), T0 + timedelta(days=1))]
    group.run(T0 + timedelta(minutes=1), T0 + timedelta(hours=9))
    assert [n.reason for _, n in group.sent] == ["firing"]


def test_it_resolves_at_once_when_the_deploy_is_rolled_back() -> None:
    # A rollback is machine-made but final: the lifecycle resolves, the group reports it on its tick.
    assert transition(status=FIRING, clean_streak=0, signal=Signal.CLEAR, final=True) is Step.RESOLVE
    group = Group()
    group.change(alert("a"), T0)
    group.run(T0, T0 + timedelta(minutes=1))
    group.change(alert("a", RESOLVED), T0 + timedelta(minutes=3))
    group.run(T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    assert [n.event_action for _, n in group.sent] == ["trigger", "resolve"]


@pytest.mark.parametrize(
    ("status", "streak", "signal", "final", "step"),
    [
        (None, 0, Signal.BREACH, False, Step.OPEN),
        (None, 0, Signal.HOLD, False, Step.NOTHING),
        (None, 0, Signal.CLEAR, False, Step.NOTHING),
        (FIRING, 2, Signal.BREACH, False, Step.KEEP),
        (FIRING, 2, Signal.HOLD, False, Step.KEEP),
        (ACKED, 0, Signal.UNKNOWN, False, Step.NOTHING),
        (FIRING, 0, Signal.CLEAR, False, Step.COUNT_CLEAN),
        (FIRING, 1, Signal.CLEAR, False, Step.COUNT_CLEAN),
        (FIRING, 2, Signal.CLEAR, False, Step.RESOLVE),
        (ACKED, 0, Signal.CLEAR, True, Step.RESOLVE),
        (RESOLVED, 0, Signal.BREACH, False, Step.OPEN),
    ],
)
def test_it_moves_an_alert_through_its_lifecycle(status, streak, signal, final, step) -> None:
    assert transition(status=status, clean_streak=streak, signal=signal, final=final) is step


def test_it_does_not_open_and_close_an_alert_for_a_statistic_hovering_at_its_threshold() -> None:
    """Drift share 0.52, 0.47, 0.51, 0.45, 0.55 … around a 0.5 threshold: one alert, never resolved."""
    status, streak, steps = None, 0, []
    for share in [0.52, 0.47, 0.51, 0.45, 0.55, 0.42, 0.49, 0.50, 0.41]:
        signal = signal_for(share, 0.5, is_open=status is FIRING)
        step = transition(status=status, clean_streak=streak, signal=signal, final=False)
        steps.append(step)
        if step is Step.OPEN:
            status, streak = FIRING, 0
        elif step is Step.KEEP:
            streak = 0
        elif step is Step.COUNT_CLEAN:
            streak += 1
        elif step is Step.RESOLVE:
            status = RESOLVED
    assert steps.count(Step.OPEN) == 1
    assert Step.RESOLVE not in steps


def test_it_resolves_after_three_clean_reports_below_the_clear_level() -> None:
    hysteresis = Hysteresis(clear_ratio=0.8, clean_reports=3)
    assert signal_for(0.39, 0.5, is_open=True, hysteresis=hysteresis) is Signal.CLEAR
    assert signal_for(0.40, 0.5, is_open=True, hysteresis=hysteresis) is Signal.HOLD
    assert signal_for(0.45, 0.5, is_open=False, hysteresis=hysteresis) is Signal.CLEAR
    assert signal_for(None, 0.5, is_open=True) is Signal.UNKNOWN
    steps = [transition(status=FIRING, clean_streak=n, signal=Signal.CLEAR, final=False) for n in range(3)]
    assert steps == [Step.COUNT_CLEAN, Step.COUNT_CLEAN, Step.RESOLVE]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("service=fraud-scorer", {"service": "fraud-scorer"}, True),
        ("service=fraud", {"service": "fraud-scorer"}, False),
        ("environment!=staging", {"environment": "production"}, True),
        ("rule=~drift.*", {"rule": "drift-share"}, True),
        ("rule=~drift", {"rule": "drift-share"}, False),  # anchored, as in Alertmanager
        ("rule!~impact.*", {"rule": "drift-share"}, True),
        ('severity="critical"', {"severity": "critical"}, True),
        ("column=income", {}, False),
    ],
)
def test_it_matches_alert_labels_like_alertmanager(text: str, labels: dict, expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["service", "=x", "9service=x", "rule=~(unclosed"])
def test_it_rejects_malformed_matchers(text: str) -> None:
    with pytest.raises(ValueError):
        Matcher.parse(text)


def test_it_applies_a_silence_only_inside_its_time_range() -> None:
    silence = Silence((Matcher("service", "fraud-scorer"),), T0, T0 + timedelta(hours=1))
    labels = {"service": "fraud-scorer"}
    assert not silence.mutes(labels, T0 - timedelta(seconds=1))
    assert silence.mutes(labels, T0)
    assert not silence.mutes(labels, T0 + timedelta(hours=1))


# --- hostile patterns: RE2 semantics, as Alertmanager (Go's regexp) -----------------------------------

_CATASTROPHIC_TIMING = """
import json, sys, time
from alerts.engine import Matcher

def best_of_five(call):
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return min(runs)


def parse_refused(text):
    try:
        Matcher.parse(text)
    except ValueError:
        return
    raise AssertionError("a 1 MB matcher line was accepted")


matcher = Matcher.parse("service=~(.*.*)*!")
timings = {n: best_of_five(lambda: matcher.matches({"service": "a" * n})) for n in (30, 100_000)}
# The page's matcher line, 1 MB of it: a lazy group before trailing spaces made parsing quadratic.
timings["parse"] = best_of_five(lambda: parse_refused("service=x" + " " * 1_000_000 + "y"))
json.dump(timings, sys.stdout)
"""


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    """`(.*.*)*!` backtracks exponentially in Python's re (23 characters held a worker for 8 s).

    It runs in a child process so that a backtracking engine fails this test by timing out instead of
    hanging the suite; the best of five runs keeps scheduling noise out of the figure."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _CATASTROPHIC_TIMING], cwd=root, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("matching (.*.*)*! against 30 characters did not finish within 60 s: the engine backtracks")
    assert result.returncode == 0, result.stderr
    timings = json.loads(result.stdout)
    assert timings["30"] < 0.05, timings
    assert timings["100000"] < 1.0, timings
    assert timings["parse"] < 1.0, timings


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),  # backreferences: Python's re has them, RE2 and Go do not
        (r"(?=drift)drift.*", "invalid perl operator"),  # lookahead
        (r"a{1001}", "invalid repetition size"),
        (r"drift.*" + "x" * 1000, "at most 1000 characters"),
    ],
    ids=["backreference", "lookahead", "repetition", "too-long"],
)
def test_it_refuses_patterns_that_re2_refuses_or_that_are_too_long(pattern: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Matcher("rule", pattern, "=~")


def test_a_regex_matcher_is_anchored_and_uses_re2_syntax() -> None:
    assert Matcher("service", r"fraud-\pL+", "=~").matches({"service": "fraud-scorer"})
    assert not Matcher("service", "fraud|churn", "=~").matches({"service": "fraud-scorer"})
    assert Matcher("service", "fraud|churn", "!~").matches({"service": "fraud-scorer"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("9service", "x"), ("service-name", "x"), ("s" * 101, "x"), ("service", "\ud800")],
    ids=["digit-first", "dash", "too-long", "lone-surrogate"],
)
def test_it_refuses_bad_label_names_and_values(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        Matcher(name, value)
