"""deploy-tracker: register deploys from CI, post metrics, prediction samples and CI checks, and gate on the verdict.

Exit codes (documented in docs/ci.md and in `deploy-tracker --help`):
  0  success; for `gate`: promote (healthy, improved, promote, or a rollback deploy, which skips the gate)
  1  gate: fail (degraded)
  2  usage error: bad flags, missing URL or token, an input file the client cannot read
  3  gate: inconclusive (marginal, insufficient_data, or not final: pending when --timeout ran out)
  4  the API refused the request (a 4xx: bad token, invalid body, unknown deploy, …)
  5  the API could not be reached, or kept failing (network errors, 5xx) after every retry
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import __version__, ci, files
from .http import ApiRefused, Client, Unreachable

OK, FAIL, USAGE, INCONCLUSIVE, REFUSED, UNREACHABLE = 0, 1, 2, 3, 4, 5
PROMOTE_VERDICTS = frozenset({"healthy", "improved", "promote", "rollback"})
FAIL_VERDICTS = frozenset({"degraded"})
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")

EPILOG = """exit codes:
  0  success; gate: promote (healthy, improved, promote, or a rollback deploy)
  1  gate: fail (degraded)
  2  usage error (flags, URL or token missing, unreadable input file)
  3  gate: inconclusive (marginal, insufficient_data, or not final when --timeout ran out)
  4  the API refused the request (4xx)
  5  the API unreachable or failing (network errors, 5xx) after every retry

environment: DEPLOY_TRACKER_URL, DEPLOY_TRACKER_TOKEN; DEPLOY_TRACKER_SERVICE, DEPLOY_TRACKER_ENVIRONMENT,
DEPLOY_TRACKER_VERSION. GitHub Actions and GitLab CI variables are read when present (see docs/ci.md)."""


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        client = Client(
            url=_base_url(_required(args.url or env.get("DEPLOY_TRACKER_URL"), "--url or DEPLOY_TRACKER_URL")),
            token=_required(args.token or env.get("DEPLOY_TRACKER_TOKEN"), "--token or DEPLOY_TRACKER_TOKEN"),
            retries=args.retries,
            timeout=args.request_timeout,
            log=say,
        )
        return args.run(args, client, env)
    except (UsageError, files.InputError) as problem:
        say(f"error: {problem}")
        return USAGE
    except ApiRefused as refused:
        say(f"error: {refused}")
        for field, problems in (refused.fields or {}).items():
            say(f"  {field}: {json.dumps(problems)}")
        return UNREACHABLE if refused.status >= 500 else REFUSED
    except Unreachable as problem:
        say(f"error: {problem}")
        return UNREACHABLE


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the tracker's base URL (default: $DEPLOY_TRACKER_URL)")
    common.add_argument("--token", help="an API token (default: $DEPLOY_TRACKER_TOKEN)")
    common.add_argument("--retries", type=int, default=5, help="tries again after network errors and 5xx (5)")
    common.add_argument("--request-timeout", type=float, default=30.0, help="seconds per HTTP request (30)")
    common.add_argument("--json", action="store_true", help="print the API's answers as JSON on stdout")
    common.add_argument("--ci", choices=["auto", "github", "gitlab", "none"], default="auto", help="CI variables")
    stream = argparse.ArgumentParser(add_help=False)
    stream.add_argument("--service", help="default: $DEPLOY_TRACKER_SERVICE, else the repository's name")
    stream.add_argument("--environment", help="default: $DEPLOY_TRACKER_ENVIRONMENT, else GitLab's CI_ENVIRONMENT_NAME")

    parser = argparse.ArgumentParser(
        prog="deploy-tracker",
        description="Deploy Tracker's client for CI.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{deploy,metrics,predictions,checks,gate}")
    _deploy_parser(commands.add_parser("deploy", parents=[common, stream], help="register or update a deploy"))
    _ingest_parser(commands.add_parser("metrics", parents=[common, stream], help="post metric points"), run_metrics)
    _ingest_parser(
        commands.add_parser("predictions", parents=[common, stream], help="post prediction samples"), run_predictions
    )
    _checks_parser(commands.add_parser("checks", parents=[common], help="attach CI test results to a deploy"))
    _gate_parser(commands.add_parser("gate", parents=[common, stream], help="the deploy's verdict as an exit code"))
    return parser


def _deploy_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--version",
        dest="deploy_version",
        metavar="VERSION",
        help="default: $DEPLOY_TRACKER_VERSION, else the tag, else the commit's short SHA",
    )
    p.add_argument("--status", choices=["pending", "in_progress", "succeeded", "failed", "rolled_back"])
    p.add_argument("--external-id", help="default: one per CI job, service and environment")
    for flag in ("commit-sha", "ref", "author", "ci-url", "commit-timestamp", "started-at", "finished-at"):
        p.add_argument(f"--{flag}")
    for flag in ("name", "version", "uri", "run-id", "digest"):
        p.add_argument(f"--model-{flag}", dest=f"model_{flag.replace('-', '_')}")
    p.add_argument("--data-version")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter (JSON value)")
    p.add_argument("--strategy", choices=["rolling", "blue_green", "canary", "shadow", "ab"])
    p.add_argument("--traffic-percent", type=float)
    p.add_argument("--changelog")
    p.add_argument("--expected-drift", action="append", default=[], metavar="COLUMN")
    p.set_defaults(run=run_deploy)


def _ingest_parser(p: argparse.ArgumentParser, run: Callable) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="CSV, JSON or NDJSON files ('-' reads stdin)")
    p.add_argument("--format", choices=["csv", "json", "ndjson"], help="default: from the file's extension")
    p.add_argument("--deploy", help="the deploy: an id (digits) or a version; default: the deploy live then")
    p.add_argument("--deploy-version", help="the deploy by version, also when the version is all digits")
    p.add_argument("--batch-size", type=int, default=5000, help=f"points or rows per request (1-{files.MAX_BATCH})")
    p.add_argument("--batch-id", default="cli", help="prefix of each batch's id; a batch sent again stores nothing")
    p.set_defaults(run=run)


CHECK_KINDS = ("schema", "data_quality", "model_quality", "bias", "integration", "other")
MAX_CHECKS = 100  # per request, the API's limit


def _checks_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help='JSON: {"checks": [...]} or a list of checks')
    p.add_argument("--deploy", type=int, required=True, metavar="ID", help="the deploy's id")
    p.add_argument("--name", help="one check given by flags: its name (a name posted again replaces its result)")
    p.add_argument("--kind", choices=CHECK_KINDS, default="other", help="the check's kind (other)")
    p.add_argument("--status", choices=["passed", "failed", "warning"], help="the check's status")
    p.add_argument("--metric", action="append", default=[], metavar="KEY=VALUE", help="a figure (JSON value)")
    p.add_argument("--check-url", help="a link to the check's output; default: the CI job")
    p.add_argument("--summary")
    p.set_defaults(run=run_checks)


def _gate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deploy", type=int, metavar="ID", help="the deploy's id (else service, environment, version)")
    p.add_argument("--version", dest="deploy_version", metavar="VERSION", help="find the deploy by version")
    p.add_argument("--external-id", help="find the deploy by external_id")
    p.add_argument("--wait", action="store_true", help="poll until the verdict is final")
    p.add_argument("--timeout", default="20m", help="how long --wait polls, e.g. 90s, 20m, 1h (20m)")
    p.add_argument("--interval", default="15s", help="pause between polls (15s)")
    p.set_defaults(run=run_gate)


# --- deploy ------------------------------------------------------------------------------------------------


def run_deploy(args: argparse.Namespace, client: Client, env: Mapping[str, str]) -> int:
    system = _ci(args, env)
    known = ci.defaults(system, env)
    body: dict[str, Any] = {
        "service": _required(_stream_value(args.service, env, "SERVICE", known), "--service"),
        "environment": _required(_stream_value(args.environment, env, "ENVIRONMENT", known), "--environment"),
        "version": _required(
            args.deploy_version or env.get("DEPLOY_TRACKER_VERSION") or known.get("version"), "--version"
        ),
    }
    for field in ("commit_sha", "ref", "author", "ci_url", "commit_timestamp"):
        value = getattr(args, field) or known.get(field)
        if value:
            body[field] = value
    external = args.external_id or (
        ci.external_id(known["run_key"], body["service"], body["environment"]) if known.get("run_key") else None
    )
    optional = {
        "external_id": external,
        "status": args.status,
        "started_at": args.started_at,
        "finished_at": args.finished_at,
        "data_version": args.data_version,
        "strategy": args.strategy,
        "traffic_percent": args.traffic_percent,
        "changelog": args.changelog,
        "expected_drift": args.expected_drift or None,
        "params": _params(args.param) or None,
        "model": {
            key: getattr(args, f"model_{key}")
            for key in ("name", "version", "uri", "run_id", "digest")
            if getattr(args, f"model_{key}")
        }
        or None,
    }
    body |= {key: value for key, value in optional.items() if value is not None}
    if system:
        say(f"{system} CI detected: {body['service']} {body['version']} to {body['environment']}")
    deploy = client.post("/api/v1/deploys", body)
    say(f"deploy {deploy['id']} recorded: {deploy.get('url', '')}")
    _ci_output(env, {"deploy-id": deploy["id"], "deploy-url": deploy.get("url", "")})
    print(json.dumps(deploy) if args.json else deploy["id"])
    return OK


def _params(pairs: list[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


# --- metrics and predictions -------------------------------------------------------------------------------


def run_metrics(args: argparse.Namespace, client: Client, env: Mapping[str, str]) -> int:
    defaults = _ingest_defaults(args, env)
    points = [point for path in args.files for point in files.read_points(path, args.format, defaults)]
    accepted = duplicate = 0
    for index, batch in enumerate(files.batches(points, _batch_size(args))):
        answer = client.post(
            "/api/v1/metrics", {"points": batch, "batch_id": files.batch_id(args.batch_id, batch, index)}
        )
        accepted += answer.get("accepted", 0)
        duplicate += len(batch) if answer.get("duplicate") else 0
        _emit(args, answer)
    say(f"{accepted} points accepted" + (f", {duplicate} already stored" if duplicate else ""))
    return OK


def run_predictions(args: argparse.Namespace, client: Client, env: Mapping[str, str]) -> int:
    defaults = _ingest_defaults(args, env)
    rows_sent = 0
    for path in args.files:
        envelope, rows = files.read_samples(path, args.format)
        # What the flags say wins over the file, and the file over the environment and the CI system's defaults.
        envelope = {**defaults, **{k: v for k, v in envelope.items() if k != "batch_id"}, **_flags(args)}
        for missing in {"service", "environment"} - set(envelope):
            raise UsageError(f"{path}: no {missing} (give --{missing} or put it in the file)")
        for index, batch in enumerate(files.batches(rows, _batch_size(args))):
            batch_id = files.batch_id(args.batch_id, [envelope, batch], index)
            answer = client.post("/api/v1/predictions", {**envelope, "batch_id": batch_id, "rows": batch})
            rows_sent += 0 if answer.get("duplicate") else answer.get("rows", 0)
            _emit(args, answer)
    say(f"{rows_sent} prediction rows accepted")
    return OK


def _ingest_defaults(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    known = ci.defaults(_ci(args, env), env)
    defaults: dict[str, Any] = {
        "service": _stream_value(args.service, env, "SERVICE", known),
        "environment": _stream_value(args.environment, env, "ENVIRONMENT", known),
    }
    if args.deploy_version:
        defaults["deploy"] = args.deploy_version
    elif args.deploy:
        defaults["deploy"] = int(args.deploy) if args.deploy.isdigit() else args.deploy
    return {key: value for key, value in defaults.items() if value}


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    given = {"service": args.service, "environment": args.environment}
    if args.deploy_version or args.deploy:
        given["deploy"] = _ingest_defaults(args, {})["deploy"]
    return {key: value for key, value in given.items() if value}


def _batch_size(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= files.MAX_BATCH:
        raise UsageError(f"--batch-size must be 1-{files.MAX_BATCH}")
    return args.batch_size


# --- checks ------------------------------------------------------------------------------------------------


def run_checks(args: argparse.Namespace, client: Client, env: Mapping[str, str]) -> int:
    checks = [check for path in args.files for check in files.read_checks(path)]
    if args.name:
        if not args.status:
            raise UsageError("--name needs --status (passed, failed or warning)")
        check: dict[str, Any] = {"name": args.name, "kind": args.kind, "status": args.status}
        url = args.check_url or ci.defaults(_ci(args, env), env).get("ci_url")
        optional = {"metrics": _params(args.metric) or None, "url": url, "summary": args.summary}
        checks.append(check | {key: value for key, value in optional.items() if value})
    if not checks:
        raise UsageError("give a check (--name and --status) or a FILE of checks")
    answer: dict[str, Any] = {}
    for start in range(0, len(checks), MAX_CHECKS):
        answer = client.post(f"/api/v1/deploys/{args.deploy}/checks", {"checks": checks[start : start + MAX_CHECKS]})
        _emit(args, answer)
    failed = sorted(c["name"] for c in checks if c.get("status") == "failed")
    say(
        f"{len(checks)} check{'s' if len(checks) != 1 else ''} recorded"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    for name, status in (answer.get("required") or {}).items():
        say(f"  required {name}: {status}")
    return OK


# --- gate --------------------------------------------------------------------------------------------------


def run_gate(args: argparse.Namespace, client: Client, env: Mapping[str, str]) -> int:
    path, query = _verdict_address(args, env)
    deadline = time.monotonic() + (duration(args.timeout) if args.wait else 0)
    interval = duration(args.interval)
    while True:
        try:
            verdict = client.get(path, query)
        except ApiRefused as refused:
            # A deploy found by lookup may not be registered yet (a native hook still on its way): keep asking.
            if not (args.wait and query and refused.status == 404 and time.monotonic() < deadline):
                raise
            say(f"no matching deploy yet ({refused}); asking again in {interval:.0f}s")
        except Unreachable as problem:
            if not (args.wait and time.monotonic() < deadline):
                raise
            say(f"{problem}; asking again in {interval:.0f}s")
        else:
            if verdict.get("final") or verdict.get("verdict") == "rollback" or not args.wait:
                return _gate_exit(args, env, verdict)
            if time.monotonic() >= deadline:
                say(f"not final after {args.timeout}")
                return _gate_exit(args, env, verdict)
            word = verdict.get("verdict")
            say(f"verdict {word} (score {_score(verdict)}, not final); asking again in {interval:.0f}s")
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())) if args.wait else 0)


def _verdict_address(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    if args.deploy is not None:
        return f"/api/v1/deploys/{args.deploy}/verdict", {}
    if args.external_id:
        return "/api/v1/verdict", {"external_id": args.external_id}
    known = ci.defaults(_ci(args, env), env)
    query = {
        "service": _stream_value(args.service, env, "SERVICE", known),
        "environment": _stream_value(args.environment, env, "ENVIRONMENT", known),
        "version": args.deploy_version or env.get("DEPLOY_TRACKER_VERSION") or known.get("version"),
    }
    missing = [f"--{key}" for key, value in query.items() if not value]
    if missing:
        raise UsageError(f"name the deploy: --deploy ID, --external-id, or {', '.join(missing)}")
    return "/api/v1/verdict", query


def _gate_exit(args: argparse.Namespace, env: Mapping[str, str], verdict: dict) -> int:
    word = str(verdict.get("verdict"))
    final = bool(verdict.get("final")) or word == "rollback"
    for reason in verdict.get("reasons") or []:
        say(f"  {reason}")
    if final and word in PROMOTE_VERDICTS:
        code, meaning = OK, "promote"
    elif final and word in FAIL_VERDICTS:
        code, meaning = FAIL, "fail"
    else:
        code, meaning = INCONCLUSIVE, "inconclusive"
    say(f"verdict {word} (score {_score(verdict)}, {'final' if final else 'not final'}): {meaning}, exit {code}")
    _ci_output(env, {"verdict": word})
    print(json.dumps(verdict) if args.json else word)
    return code


def _score(verdict: dict) -> str:
    score = verdict.get("score")
    return "-" if score is None else f"{score:g}"


def duration(text: str) -> float:
    """Seconds from "90", "90s", "20m", "1h30m"."""
    match = DURATION.fullmatch(text.strip())
    if not text.strip() or not match:
        raise UsageError(f"{text!r} is not a duration (e.g. 90s, 20m, 1h)")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


# --- shared --------------------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise UsageError(f"{name} is required")
    return value


def _base_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{url!r}: the tracker's URL must start with https:// (or http://)")
    return url


def _ci(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    return {"auto": ci.detect(env), "none": None}.get(args.ci, args.ci)


def _stream_value(flag: str | None, env: Mapping[str, str], name: str, known: dict[str, str]) -> str | None:
    return flag or env.get(f"DEPLOY_TRACKER_{name}") or known.get(name.lower())


def _emit(args: argparse.Namespace, answer: Any) -> None:
    if args.json:
        print(json.dumps(answer))


def _ci_output(env: Mapping[str, str], values: dict[str, Any]) -> None:
    """Step outputs for later steps: $GITHUB_OUTPUT on GitHub Actions (`steps.<id>.outputs.deploy-id`)."""
    target = env.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.writelines(f"{key}={value}\n" for key, value in values.items())
