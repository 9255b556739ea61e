"""The command-line client (client/deploy_tracker_cli) run as CI runs it: a separate process, talking HTTP to a
live server, with only the CI system's variables to go on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from deployments.models import Deploy, DeployCheck
from metrics.drift.models import DriftReport
from metrics.impact.analysis import impact_compute
from tests.helpers import wait_until
from tests.metrics.stored import stored_count
from tests.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SHA = "9f2c3a1b7d4e5f60718293a4b5c6d7e8f9012345"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/fraud-scorer",
    "GITHUB_SHA": SHA,
    "GITHUB_REF_NAME": "main",
    "GITHUB_REF_TYPE": "branch",
    "GITHUB_ACTOR": "dana",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ID": "8812",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_JOB": "deploy",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_PROJECT_PATH": "ml/fraud-scorer",
    "CI_PROJECT_NAME": "fraud-scorer",
    "CI_ENVIRONMENT_NAME": "staging",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_SHORT_SHA": SHA[:8],
    "CI_COMMIT_TAG": "v2026.12.1",
    "CI_COMMIT_REF_NAME": "v2026.12.1",
    "CI_COMMIT_TIMESTAMP": "2026-12-01T09:12:00+00:00",
    "GITLAB_USER_LOGIN": "erin",
    "CI_PIPELINE_URL": "https://gitlab.example/ml/fraud-scorer/-/pipelines/4411",
    "CI_JOB_ID": "99001",
}


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """`deploy-tracker …` in a process of its own, with a CI job's environment and nothing else of ours."""

    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "deploy_tracker_cli", *args]

    def __call__(self, *args: str, timeout: float = 60) -> Ran:
        done = subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, err: Path) -> subprocess.Popen:
        with open(err, "w") as stderr:
            return subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=stderr, text=True)


def job_env(url: str, token: str, ci: dict[str, str] | None = None, **more: str) -> dict[str, str]:
    # Built from nothing: a CI variable of the machine running the tests must not leak in.
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "client"),
        "DEPLOY_TRACKER_URL": url,
        "DEPLOY_TRACKER_TOKEN": token,
        **(ci or {}),
        **more,
    }


@pytest.fixture
def github_job(live_server, token, tmp_path) -> Cli:
    return Cli(job_env(live_server.url, token, GITHUB, GITHUB_OUTPUT=str(tmp_path / "github_output")))


def at(minutes_ago: float) -> str:
    return (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()


def metrics_csv(path: Path, shift: float) -> Path:
    """latency_ms of the baseline (its last 50 minutes before the current deploy, 30 minutes ago) and of the
    current deploy (its last 24 minutes), with a label column."""
    rng = np.random.default_rng(7)
    lines = ["name,value,timestamp,label.region"]
    for i, value in enumerate(rng.normal(100, 8, 200)):
        lines.append(f"latency_ms,{value:.4f},{at(80 - 50 * i / 200)},eu")
    for i, value in enumerate(rng.normal(100 + shift, 8, 200)):
        lines.append(f"latency_ms,{value:.4f},{at(24 - 23 * i / 200)},eu")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("shift", "verdict", "code"), [(20.0, "degraded", 1), (0.0, "healthy", 0)])
def test_a_ci_job_registers_its_deploy_posts_metrics_and_the_gate_exits_with_the_verdicts_code(
    github_job, tmp_path, shift, verdict, code
):
    baseline = github_job("deploy", "--environment", "production", "--version", "1.0", "--external-id", "base-1.0",
                          "--finished-at", at(180))  # fmt: skip
    assert baseline.code == 0, baseline.err
    current = github_job("deploy", "--environment", "production", "--finished-at", at(30), "--model-version", "41")
    assert current.code == 0, current.err
    deploy = Deploy.objects.select_related("service", "baseline").get(pk=int(current.out))
    assert (deploy.service.name, deploy.version, deploy.baseline.version) == ("fraud-scorer", SHA[:12], "1.0")
    assert (deploy.commit_sha, deploy.ref, deploy.author, deploy.model_version) == (SHA, "main", "dana", "41")
    assert deploy.ci_url == "https://github.com/acme/fraud-scorer/actions/runs/8812/attempts/2"
    assert deploy.external_id == "github:acme/fraud-scorer:8812:2:deploy:fraud-scorer:production"
    assert f"deploy-id={deploy.pk}\n" in (tmp_path / "github_output").read_text()

    posted = github_job("metrics", str(metrics_csv(tmp_path / "latency.csv", shift)), "--environment", "production")
    assert posted.code == 0, posted.err
    assert "400 points accepted" in posted.err
    assert stored_count(deploy_id=deploy.pk) == 200

    err = tmp_path / "gate.err"
    gate = github_job.start(
        "gate", "--deploy", str(deploy.pk), "--wait", "--timeout", "2m", "--interval", "1s", err=err
    )
    # Judged on the data so far, but the observation window is still open: the gate keeps asking.
    wait_until(lambda: f"verdict {verdict} (score" in err.read_text() and "not final" in err.read_text())
    assert gate.poll() is None
    # The window's end, as the worker's sweep computes it: the verdict becomes final.
    impact_compute(deploy=deploy, now=timezone.now() + timedelta(minutes=31))
    out, _ = gate.communicate(timeout=60)
    assert (gate.returncode, out.strip()) == (code, verdict), err.read_text()
    assert f"verdict {verdict} (score " in err.read_text() and f"final): {'fail' if code else 'promote'}" in (
        err.read_text()
    )


def test_the_gate_finds_a_deploy_it_has_no_id_for_by_version_or_external_id(github_job, tmp_path):
    """CI that registered its deploy through a native hook has no id: the gate asks GET /api/v1/verdict."""
    assert github_job("deploy", "--environment", "production", "--version", "1.0", "--finished-at", at(180)).code == 0
    current = github_job("deploy", "--environment", "production", "--finished-at", at(30), "--external-id", "ext-7")
    assert current.code == 0, current.err
    assert (
        github_job("metrics", str(metrics_csv(tmp_path / "latency.csv", 20.0)), "--environment", "production").code == 0
    )
    deploy = Deploy.objects.get(pk=int(current.out))
    impact_compute(deploy=deploy, now=timezone.now() + timedelta(minutes=31))

    by_version = github_job("gate", "--environment", "production", "--version", SHA[:12])
    assert (by_version.code, by_version.out.strip()) == (1, "degraded"), by_version.err
    by_external_id = github_job("gate", "--external-id", "ext-7")
    assert (by_external_id.code, by_external_id.out.strip()) == (1, "degraded"), by_external_id.err
    unknown = github_job("gate", "--environment", "production", "--version", "no-such-version")
    assert unknown.code == 4, unknown.err


def test_a_gitlab_job_is_detected_from_its_variables(live_server, token):
    ran = Cli(job_env(live_server.url, token, GITLAB))("deploy", "--json")
    assert ran.code == 0, ran.err
    body = json.loads(ran.out)
    assert (body["service"], body["environment"], body["version"]) == ("fraud-scorer", "staging", "v2026.12.1")
    assert (body["author"], body["ci_url"], body["ref"]) == ("erin", GITLAB["CI_PIPELINE_URL"], "v2026.12.1")
    assert body["external_id"] == "gitlab:ml/fraud-scorer:99001:fraud-scorer:staging"
    assert body["commit_timestamp"].startswith("2026-12-01T09:12:00")


def test_flags_override_the_ci_variables_and_the_same_job_updates_its_deploy(live_server, token):
    cli = Cli(job_env(live_server.url, token, GITHUB, DEPLOY_TRACKER_ENVIRONMENT="staging"))
    first = cli("deploy", "--status", "in_progress", "--service", "scorer", "--version", "2.0")
    assert first.code == 0, first.err
    second = cli("deploy", "--status", "succeeded", "--service", "scorer", "--version", "2.0", "--param", "depth=6")
    assert second.out == first.out
    deploy = Deploy.objects.select_related("service", "environment").get(pk=int(first.out))
    assert (deploy.service.name, deploy.environment.name, deploy.status) == ("scorer", "staging", "succeeded")
    assert deploy.params == {"depth": 6}


def test_metrics_go_in_batches_and_a_rerun_of_the_same_file_stores_nothing_twice(github_job, tmp_path):
    assert github_job("deploy", "--environment", "production", "--finished-at", at(30)).code == 0
    lines = ["service,environment,name,value,timestamp"] + [
        f"fraud-scorer,production,error_rate,{i / 1000},{at(20 - i / 30)}" for i in range(250)
    ]
    (tmp_path / "errors.csv").write_text("\n".join(lines) + "\n")
    first = github_job("metrics", str(tmp_path / "errors.csv"), "--batch-size", "100", "--json")
    assert first.code == 0, first.err
    answers = [json.loads(line) for line in first.out.splitlines()]
    assert [a["accepted"] for a in answers] == [100, 100, 50]
    again = github_job("metrics", str(tmp_path / "errors.csv"), "--batch-size", "100", "--json")
    assert [json.loads(line)["duplicate"] for line in again.out.splitlines()] == [True, True, True]
    assert stored_count(name="error_rate") == 250


def test_prediction_samples_from_csv_and_ndjson_reach_the_deploy(github_job, tmp_path):
    assert github_job("deploy", "--environment", "production").code == 0
    rows = ["amount,country,is_new,prediction,label"] + [
        f"{10 + i % 7},{'DE' if i % 3 else 'FR'},{'true' if i % 2 else 'false'},{(i % 10) / 10},{i % 2}"
        for i in range(120)
    ]
    (tmp_path / "samples.csv").write_text("\n".join(rows) + "\n")
    ndjson = "\n".join(json.dumps({"features": {"amount": 12.5, "country": "1"}, "prediction": 0.4}) for _ in range(30))
    (tmp_path / "more.ndjson").write_text(ndjson + "\n")
    ran = github_job(
        "predictions", str(tmp_path / "samples.csv"), str(tmp_path / "more.ndjson"),
        "--environment", "production", "--batch-size", "50", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert [json.loads(line)["rows"] for line in ran.out.splitlines()] == [50, 50, 20, 30]
    assert "150 prediction rows accepted" in ran.err
    assert DriftReport.objects.filter(deploy__version=SHA[:12]).exists()


def test_the_gate_without_wait_answers_at_once_and_a_timeout_is_inconclusive(github_job):
    deploy_id = github_job("deploy", "--environment", "production").out.strip()
    once = github_job("gate", "--deploy", deploy_id)
    assert once.code == 3 and "not final): inconclusive, exit 3" in once.err
    started = time.monotonic()
    waited = github_job("gate", "--deploy", deploy_id, "--wait", "--timeout", "3s", "--interval", "1s")
    assert waited.code == 3 and "not final after 3s" in waited.err, waited.err
    assert 2.5 <= time.monotonic() - started < 30


def test_a_refusal_an_unknown_deploy_and_missing_settings_have_their_exit_codes(live_server, token):
    assert Cli(job_env(live_server.url, token))("gate", "--deploy", "999999").code == 4
    bad_token = Cli(job_env(live_server.url, "dtk_not-a-token"))("gate", "--deploy", "1")
    assert bad_token.code == 4 and "invalid_token" in bad_token.err
    invalid = Cli(job_env(live_server.url, token))("deploy", "--service", "a/b", "--environment", "x", "--version", "1")
    assert invalid.code == 4 and "service:" in invalid.err
    no_url = Cli({"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "client")})("gate", "--deploy", "1")
    assert no_url.code == 2 and "DEPLOY_TRACKER_URL" in no_url.err
    no_stream = Cli(job_env(live_server.url, token))("gate", "--wait")
    assert no_stream.code == 2 and "--deploy ID" in no_stream.err


def test_network_errors_and_5xx_are_retried_with_backoff_then_give_up_with_exit_5(token):
    answer = json.dumps({"id": 7, "url": "http://tracker/alpha/deploys/7/"}).encode()
    with Receiver([Reply(503, b"busy", {"Retry-After": "0"}), Reply(502, b"bad gateway"), Reply(201, answer)]) as api:
        ran = Cli(job_env(api.url(""), token))("deploy", "--service", "s", "--environment", "e", "--version", "1")
        assert (ran.code, ran.out.strip()) == (0, "7"), ran.err
        assert len(api.requests) == 3 and ran.err.count("trying again") == 2
        assert (
            len({r.body for r in api.requests}) == 1 and api.requests[0].headers["authorization"] == f"Bearer {token}"
        )
    with Receiver() as closed:
        url = closed.url("")
    down = Cli(job_env(url, token))(
        "deploy", "--service", "s", "--environment", "e", "--version", "1", "--retries", "1"
    )
    assert down.code == 5 and "gave up after 2 tries" in down.err, down.err


def test_it_installs_with_pip_as_a_deploy_tracker_command(tmp_path):
    source = shutil.copytree(ROOT / "client", tmp_path / "client", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    done = subprocess.run(
        [str(target / "bin" / "deploy-tracker"), "--help"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exit codes:" in done.stdout and "3  gate: inconclusive" in done.stdout


def test_ci_attaches_its_checks_to_the_deploy_from_flags_and_a_file(github_job, tmp_path):
    deployed = github_job("deploy", "--environment", "production", "--version", "1.0")
    assert deployed.code == 0, deployed.err
    deploy_id = deployed.out.strip()
    results = tmp_path / "checks.json"
    results.write_text(json.dumps({"checks": [{"name": "schema", "kind": "schema", "status": "failed"}]}))
    ran = github_job("checks", "--deploy", deploy_id, str(results), "--name", "bias-gender", "--kind", "bias",
                     "--status", "passed", "--metric", "disparate_impact=0.91")  # fmt: skip
    assert ran.code == 0, ran.err
    assert "2 checks recorded; failed: schema" in ran.err
    stored = {c.name: c for c in DeployCheck.objects.filter(deploy_id=int(deploy_id))}
    assert (stored["schema"].status, stored["bias-gender"].status) == ("failed", "passed")
    assert stored["bias-gender"].metrics == {"disparate_impact": 0.91}
    assert stored["bias-gender"].url == "https://github.com/acme/fraud-scorer/actions/runs/8812/attempts/2"
    refused = github_job("checks", "--deploy", deploy_id, "--name", "x" * 201, "--status", "passed")
    assert refused.code == 4 and "checks" in refused.err
    assert github_job("checks", "--deploy", deploy_id).code == 2
