"""The Argo Rollouts AnalysisTemplate of docs/argo-rollouts.md, run against the gate's real answers.

The template is read from the page. Its conditions are evaluated the way Argo does: `expr` expressions over
`result` (a small evaluator of the subset the template may use — it refuses anything else, so the template
cannot drift outside what is checked here), then Argo's EvaluateResult (utils/evaluate/evaluate.go: failure
first, then success, else inconclusive) and assessMetricStatus (analysis/analysis.go: failureLimit, then
inconclusiveLimit, then count). The answers come from the API for deploys judged on real posted metrics.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact.analysis import impact_compute
from tests.metrics.test_impact_api import _deploy, _point, _post, _post_windows

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parents[2] / "docs" / "argo-rollouts.md"


def template() -> dict:
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/argo-rollouts.md has no yaml block"
    return yaml.safe_load(block[1])


def metric() -> dict:
    [only] = template()["spec"]["metrics"]
    return only


# --- expr, the subset the template uses ---------------------------------------------------------------------

TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>\|\||&&|==|!=|[()\[\],.!])|(?P<word>[A-Za-z_]\w*))')


def tokens(source: str) -> list[str]:
    out, pos = [], 0
    while pos < len(source.rstrip()):
        match = TOKEN.match(source, pos)
        if not match:
            raise SyntaxError(f"not in the checked expr subset at {source[pos:]!r}")
        out.append(match.group(match.lastgroup))
        pos = match.end()
    return out


class Expr:
    """expr-lang precedence: or < and < comparison (== != in, not in) < unary (! not) < member access."""

    def __init__(self, source: str, env: dict[str, Any]) -> None:
        self.toks, self.env = tokens(source), env

    def run(self) -> Any:
        value = self.or_()
        if self.toks:
            raise SyntaxError(f"unexpected {self.toks[0]!r}")
        return value

    def peek(self, *options: str) -> bool:
        return bool(self.toks) and self.toks[0] in options

    def take(self, expected: str | None = None) -> str:
        tok = self.toks.pop(0)
        if expected and tok != expected:
            raise SyntaxError(f"expected {expected!r}, got {tok!r}")
        return tok

    def or_(self) -> Any:
        left = self.and_()
        while self.peek("||", "or"):
            self.take()
            right = self.and_()
            left = bool(left) or bool(right)
        return left

    def and_(self) -> Any:
        left = self.compare()
        while self.peek("&&", "and"):
            self.take()
            right = self.compare()
            left = bool(left) and bool(right)
        return left

    def compare(self) -> Any:
        left = self.unary()
        if self.peek("==", "!=", "in", "not"):
            op = self.take()
            if op == "not":
                op += " " + self.take("in")
            right = self.unary()
            return {"==": left == right, "!=": left != right, "in": left in right, "not in": left not in right}[op]
        return left

    def unary(self) -> Any:
        if self.peek("!", "not"):
            self.take()
            value = self.unary()
            if not isinstance(value, bool):
                raise TypeError("! needs a bool")
            return not value
        return self.member()

    def member(self) -> Any:
        value = self.primary()
        while self.peek("."):
            self.take()
            value = value.get(self.take()) if isinstance(value, dict) else None
        return value

    def primary(self) -> Any:
        tok = self.take()
        if tok.startswith('"'):
            return tok[1:-1]
        if tok == "(":
            value = self.or_()
            self.take(")")
            return value
        if tok == "[":
            items = []
            while not self.peek("]"):
                items.append(self.or_())
                if self.peek(","):
                    self.take()
            self.take("]")
            return items
        literals = {"true": True, "false": False, "nil": None}
        if tok in literals:
            return literals[tok]
        if tok in self.env:
            return self.env[tok]
        raise SyntaxError(f"unknown name {tok!r}")


def condition(source: str, result: dict) -> bool:
    value = Expr(source, {"result": result}).run()
    if not isinstance(value, bool):  # expr.AsBool(): a condition must be a bool
        raise TypeError(f"{source!r} is not a bool")
    return value


def test_the_evaluator_follows_exprs_precedence_and_refuses_what_it_does_not_check():
    result = {"verdict": "healthy", "final": False}
    assert condition('result.verdict == "healthy" || result.final && false', result) is True
    assert condition('!result.final && result.verdict in ["healthy"]', result) is True
    assert condition('result.verdict not in ["degraded"]', result) is True
    with pytest.raises(SyntaxError):
        condition("result.score >= 95", result)
    with pytest.raises(TypeError):
        condition("result.verdict", result)


# --- Argo's measurement and metric rules ----------------------------------------------------------------------


def measure(spec: dict, result: dict) -> str:
    """utils/evaluate/evaluate.go EvaluateResult."""
    success_src, failure_src = spec.get("successCondition", ""), spec.get("failureCondition", "")
    success = condition(success_src, result) if success_src else False
    failure = condition(failure_src, result) if failure_src else False
    if not success_src and not failure_src:
        return "Successful"
    if success_src and not failure_src:
        failure = not success
    if failure_src and not success_src:
        success = not failure
    if failure:
        return "Failed"
    if not success:
        return "Inconclusive"
    return "Successful"


def run_metric(spec: dict, answers: list[dict]) -> tuple[str, int]:
    """analysis/analysis.go assessMetricStatus after each measurement: (phase, measurements taken).

    `answers` are the gate's answers in order; the last one repeats once the verdict stops changing.
    """
    counts = {"Failed": 0, "Inconclusive": 0, "Successful": 0}
    limit_failed, limit_inconclusive = int(spec.get("failureLimit", 0)), int(spec.get("inconclusiveLimit", 0))
    count = int(spec["count"])
    for taken in range(1, count + 1):
        counts[measure(spec, answers[min(taken, len(answers)) - 1])] += 1
        if counts["Failed"] > limit_failed:
            return "Failed", taken
        if counts["Inconclusive"] > limit_inconclusive:
            return "Inconclusive", taken
    return "Successful", count


# --- the gate's real answers, one per verdict ------------------------------------------------------------------


def _judge(deploy: Deploy, *, final: bool = False) -> None:
    now = timezone.now() + (timedelta(minutes=31) if final else timedelta())
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=deploy.pk), now=now)


def _post_concurrent(api, champion: Deploy, canary: Deploy, control, treated, *, name: str) -> None:
    points = [
        _point(24 - 23 * i / len(values), float(v), name, deploy=arm.pk)
        for arm, values in ((champion, control), (canary, treated))
        for i, v in enumerate(values)
    ]
    assert _post(api, points).status_code == 202


@pytest.fixture
def gate(api, project):
    """gate(kind) -> the API's answer for a deploy judged into that state on posted metrics."""
    rng = np.random.default_rng(7)

    def answer(kind: str) -> dict:
        Deploy.objects.filter(project=project).delete()
        champion = _deploy(project, "1.0", 180)
        canary = {"strategy": "canary", "traffic_percent": 10} if kind.startswith("canary") else {}
        current = _deploy(project, "1.1", 30, **canary)
        if kind == "pending":
            pass
        elif kind == "rollback":
            current = _deploy(project, "1.0", 1)
        elif kind == "insufficient_data":
            _judge(current, final=True)
        else:
            shifts = {
                "healthy": [1.0],
                "improved": [0.8],
                "degraded": [1.2],
                "marginal": [1.0, 1.0, 1.0, 1.2],
                "canary": [1.0],
            }
            for i, shift in enumerate(shifts[kind.removesuffix("_final")]):
                name = f"latency_{i}_ms"
                base = rng.normal(100, 8, 200)
                if kind.startswith("canary"):  # both arms live: each names its deploy, judged in the same window
                    _post_concurrent(api, champion, current, base, base * shift, name=name)
                else:
                    _post_windows(api, base, base * shift, name=name)
            _judge(current, final=kind.endswith("_final") or kind == "marginal")
        body = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production"}).json()
        assert body == api.get(f"/api/v1/deploys/{current.pk}/verdict").json()
        return body

    return answer


def test_the_gate_answers_each_verdict_as_the_template_expects(gate):
    spec = metric()
    seen = {}
    kinds = ("pending", "healthy", "healthy_final", "improved_final", "marginal", "degraded", "insufficient_data")
    for kind in (*kinds, "canary", "canary_final"):
        body = gate(kind)
        seen[kind] = (body["verdict"], body["final"], measure(spec, body))
    seen["rollback"] = ((body := gate("rollback"))["verdict"], body["final"], measure(spec, body))
    assert seen == {
        "pending": ("pending", False, "Inconclusive"),
        "healthy": ("healthy", False, "Inconclusive"),
        "healthy_final": ("healthy", True, "Successful"),
        "improved_final": ("improved", True, "Successful"),
        "marginal": ("marginal", True, "Inconclusive"),
        "degraded": ("degraded", False, "Failed"),
        "insufficient_data": ("insufficient_data", True, "Inconclusive"),
        "rollback": ("rollback", True, "Successful"),
        # A canary judged healthy: not final yet it keeps measuring; final, the gate says promote and it passes.
        "canary": ("healthy", False, "Inconclusive"),
        "canary_final": ("promote", True, "Successful"),
    }


def test_a_fresh_deploy_keeps_measuring_instead_of_pausing(gate):
    # Pending for all but the last measurement, then final and healthy: never paused, and it passes.
    spec = metric()
    count = int(spec["count"])
    answers = [gate("pending")] * (count - 1) + [gate("healthy_final")]
    assert run_metric(spec, answers) == ("Successful", count)


def test_the_old_template_paused_every_rollout_on_its_first_measurement(gate):
    old = {
        "count": 60,
        "failureLimit": 0,
        "successCondition": 'result.verdict in ["healthy", "improved"]',
        "failureCondition": 'result.verdict == "degraded"',
    }
    assert run_metric(old, [gate("pending")]) == ("Inconclusive", 1)


def test_pending_then_final_healthy_succeeds_after_the_window(gate):
    spec = metric()
    answers = [gate("pending")] * 5 + [gate("healthy")] * 25 + [gate("healthy_final")]
    assert run_metric(spec, answers) == ("Successful", int(spec["count"]))


def test_degraded_at_any_point_fails_at_once(gate):
    answers = [gate("pending")] * 3 + [gate("healthy")] * 4 + [gate("degraded")]
    assert run_metric(metric(), answers) == ("Failed", 8)


def test_a_window_that_ends_without_a_pass_pauses_for_a_person(gate):
    spec = metric()
    for final in ("insufficient_data", "marginal"):
        answers = [gate("pending")] * 10 + [gate(final)]
        assert run_metric(spec, answers) == ("Inconclusive", int(spec["count"])), final


def test_a_rollback_deploy_passes(gate):
    assert run_metric(metric(), [gate("rollback")])[0] == "Successful"


def test_the_template_asks_the_verdict_lookup_with_the_whole_answer():
    web = metric()["provider"]["web"]
    assert web["url"].startswith("https://tracker.example/api/v1/verdict?service={{args.service}}")
    assert web["jsonPath"] == "{$}"
    assert int(metric()["inconclusiveLimit"]) == int(metric()["count"]) - 1
