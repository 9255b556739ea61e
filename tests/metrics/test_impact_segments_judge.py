"""The pure side of segments: the worst-first order and how a segment's failure changes the deploy's verdict."""

from __future__ import annotations

import numpy as np

from metrics.stats import impact


def _judged(name, shift, n=200, critical=False, seed=0):
    rng = np.random.default_rng(seed)
    rule = impact.MetricRule(name, impact.INCREASE_IS_BAD, critical=critical)
    return rule, rng.normal(100, 5, n), rng.normal(100 + shift, 5, n)


def _segment(value, volume, shift, critical=False, n=200):
    rule, baseline, current = _judged("latency_ms", shift, n=n, critical=critical, seed=volume)
    result = impact.judge_metric(impact.segment_rule(rule, "region", value), baseline, current)
    result.name = "latency_ms"
    return impact.judge_segment("region", value, volume, [result])


def test_segments_are_ordered_degraded_then_insufficient_then_healthy_and_larger_first_among_equals():
    found = [
        _segment("small-ok", 10, 0.0),
        _segment("big-ok", 900, 0.0),
        _segment("tiny", 5, 0.0, n=10),
        _segment("bad", 50, 30.0),
    ]
    ordered = impact.worst_first(found)
    assert [(s.value, s.verdict.verdict) for s in ordered] == [
        ("bad", "degraded"), ("tiny", "insufficient_data"), ("big-ok", "healthy"), ("small-ok", "healthy"),
    ]  # fmt: skip


def test_a_critical_metric_failing_in_a_segment_degrades_a_healthy_deploy_and_names_the_segment():
    rule, baseline, current = _judged("latency_ms", 0.0, critical=True)
    verdict = impact.judge_deploy([impact.judge_metric(rule, baseline, current)])
    assert verdict.verdict == "healthy"

    impact.apply_segments(verdict, [_segment("eu-west", 80, 30.0, critical=True), _segment("us-east", 900, 0.0)])

    assert verdict.verdict == "degraded"
    assert verdict.reasons[0] == "degraded: critical metric failing in a segment: latency_ms in region=eu-west"
    assert verdict.reasons[1].startswith("latency_ms in region=eu-west (critical): significantly higher than baseline")


def test_a_non_critical_failure_in_a_segment_is_named_but_leaves_the_verdict():
    rule, baseline, current = _judged("latency_ms", 0.0)
    verdict = impact.judge_deploy([impact.judge_metric(rule, baseline, current)])

    impact.apply_segments(verdict, [_segment("eu-west", 80, 30.0)])

    assert verdict.verdict == "healthy"
    assert verdict.reasons[1].startswith("latency_ms in region=eu-west: significantly higher than baseline")


def test_a_segment_never_changes_a_pending_verdict():
    verdict = impact.judge_deploy([], started=False)
    impact.apply_segments(verdict, [_segment("eu-west", 80, 30.0, critical=True)])
    assert verdict.verdict == "pending" and len(verdict.reasons) == 1
