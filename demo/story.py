"""The demo's history as a script (pure: no Django): which deploys went out when, and what each one did.

Four weeks of two services, each release going to staging and three hours later to production. Most
production deploys are healthy; one improved latency; one degraded latency and errors and was rolled back
by CI 100 minutes later; one shipped a recalibrated model (prediction drift on stable inputs); the newest
one, half an hour old, receives drifted inputs; a churn-model staging deploy twenty minutes old has too
little data to judge yet. `schedule` turns the script into the moments the outside world acts: CI posting
deploy events, the services posting metric points and prediction samples, and beat running its sweeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAYS = 28
STAGING_LEAD = timedelta(hours=3)
# Metric names per stream and points posted per minute of traffic.
METRICS = {
    ("fraud-scorer", "production"): {"latency_ms": 2, "error_rate": 2, "auc": 2, "approval_rate": 2},
    ("fraud-scorer", "staging"): {"latency_ms": 1, "error_rate": 1},
    ("churn-model", "production"): {"latency_ms": 2, "error_rate": 2, "auc": 2},
    ("churn-model", "staging"): {"latency_ms": 1, "error_rate": 1},
}
SERVICES = {
    "fraud-scorer": {"model": "fraud-gbm", "authors": ("dana", "lee", "priya"), "every_days": 1.6},
    "churn-model": {"model": "churn-xgb", "authors": ("sam", "noor"), "every_days": 2.4},
}
# What a production deploy does to its metrics, as factors that last while it (and what follows it) serves.
EFFECTS = {
    "improved": {"latency_ms": 0.8},
    "degraded": {"latency_ms": 1.35, "error_rate": 2.6, "auc": 0.97},
}
CHANGELOGS = (
    "Retrain on last week's data",
    "Tune thresholds",
    "Add merchant features",
    "Upgrade runtime",
    "Fix feature join",
)
# When points are posted after a deploy goes out (a metrics agent flushing; the last flush at the end of the
# observation window, so its final report judges the whole window), and when beat's sweeps run.
POSTS_AFTER = (timedelta(minutes=20), timedelta(minutes=60))
SWEEPS_AFTER = (timedelta(minutes=21), timedelta(minutes=61))
# Traffic is posted for a deploy's first hour and for the hour before its successor (the successor's baseline).
FIRST_TRAFFIC = timedelta(minutes=60)
LAST_TRAFFIC = timedelta(minutes=62)
SAMPLE_ROWS = 3000


@dataclass
class DeployScript:
    key: str  # the deploy event's external_id
    service: str
    environment: str
    version: str
    at: datetime  # when it went out (CI posts the event then)
    event: dict
    status: str = "succeeded"
    plan: str = "normal"  # normal, improved, degraded, model, inputs, sparse, rollback or first
    restores: DeployScript | None = None
    levels: dict[str, float] = field(default_factory=dict)
    live_until: datetime | None = None  # when the next deploy of its stream replaced it (or the end)

    @property
    def stream(self) -> tuple[str, str]:
        return self.service, self.environment

    @property
    def live(self) -> bool:
        return self.status == "succeeded"

    @property
    def samples(self) -> str | None:
        """What its prediction samples look like (fraud-scorer's production model posts samples)."""
        if self.stream != ("fraud-scorer", "production") or not self.live:
            return None
        return {"model": "model", "inputs": "inputs"}.get(self.plan, "stable")


@dataclass(frozen=True)
class Action:
    at: datetime
    kind: str  # deploy, points, samples or sweep
    deploy: DeployScript | None = None
    start: datetime | None = None  # points and samples: the traffic they cover
    end: datetime | None = None


def history(end: datetime, *, seed: int = 7) -> list[DeployScript]:
    """Every deploy of the demo, oldest first, with its plan, its metric levels and how long it served."""
    rng = random.Random(seed)
    deploys = []
    for service in SERVICES:
        deploys += _releases(rng, service, end)
    deploys += _tail(rng, deploys, end)
    _story(deploys, end)
    deploys.sort(key=lambda d: d.at)
    _fail_some(rng, deploys)
    _levels_and_lifetimes(deploys, end)
    return deploys


def _releases(rng: random.Random, service: str, end: datetime) -> list[DeployScript]:
    spec = SERVICES[service]
    at, n, model_version, out = end - timedelta(days=DAYS), 0, 30, []
    while True:
        at += timedelta(days=spec["every_days"] * rng.uniform(0.6, 1.4))
        if at + STAGING_LEAD > end - timedelta(days=1):
            return out
        n += 1
        model_version += rng.random() < 0.6
        out += _release(rng, service, n, at.replace(second=0, microsecond=0), model_version)


def _release(
    rng: random.Random,
    service: str,
    n: int,
    at: datetime,
    model_version: int,
    envs: tuple[str, ...] = ("staging", "production"),
) -> list[DeployScript]:
    version = f"{at:%Y.%m.%d}.{n}"
    event = _event(rng, service, n, at, model_version)
    return [
        DeployScript(
            key=f"demo-{service}-{env}-{n}",
            service=service,
            environment=env,
            version=version,
            at=at + STAGING_LEAD * offset,
            event={**event, "ci_url": f"{event['ci_url']}-{env}"},
        )
        for offset, env in enumerate(envs)
    ]


def _event(rng: random.Random, service: str, n: int, at: datetime, model_version: int) -> dict:
    spec = SERVICES[service]
    return {
        "commit_sha": f"{rng.getrandbits(160):040x}",
        "ref": "main",
        "author": rng.choice(spec["authors"]),
        "ci_url": f"https://ci.example.com/{service}/runs/{1000 + n}",
        "commit_timestamp": at - timedelta(minutes=rng.randint(25, 600)),
        "model": {
            "name": spec["model"],
            "version": str(model_version),
            "uri": f"models:/{spec['model']}/{model_version}",
            "run_id": f"{rng.getrandbits(64):016x}",
            "digest": f"sha256:{rng.getrandbits(256):064x}",
        },
        "data_version": f"features-{(at - timedelta(days=1)):%Y-%m-%d}",
        "params": {
            "max_depth": rng.choice([6, 7, 8]),
            "learning_rate": rng.choice([0.05, 0.1]),
            "n_estimators": rng.choice([300, 400, 500]),
        },
        "strategy": "rolling",
        "traffic_percent": 100,
        "changelog": rng.choice(CHANGELOGS),
    }


def _tail(rng: random.Random, deploys: list[DeployScript], end: datetime) -> list[DeployScript]:
    """Today: a fraud-scorer release reaching production half an hour ago, a churn-model one on staging."""
    out = []
    for service, lead, envs in (
        ("fraud-scorer", timedelta(minutes=30) + STAGING_LEAD, ("staging", "production")),
        ("churn-model", timedelta(minutes=20), ("staging",)),
    ):
        last = [d for d in deploys if d.service == service][-1]
        n = int(last.key.rsplit("-", 1)[1]) + 1
        model_version = int(last.event["model"]["version"]) + 1
        out += _release(rng, service, n, (end - lead).replace(second=0, microsecond=0), model_version, envs)
    return out


def _story(deploys: list[DeployScript], end: datetime) -> None:
    """Give the production deploys their parts; the first deploy of each stream has no baseline."""
    fraud = [d for d in deploys if d.stream == ("fraud-scorer", "production")]
    fraud.sort(key=lambda d: d.at)
    fraud[-1].plan = "inputs"
    fraud[-1].event["changelog"] = "New merchant taxonomy"
    fraud[-1].event["expected_drift"] = ["merchant_category"]  # CI says the new taxonomy moves it
    fraud[-2].plan = "model"
    fraud[-2].event["changelog"] = "Recalibrate scores (new model)"
    model = fraud[-2].event["model"]  # shared with the release's staging deploy: both ship the new model
    model["version"] = str(int(model["version"]) + 1)
    model["uri"] = f"models:/{model['name']}/{model['version']}"
    _nearest(fraud[1:-3], end - timedelta(days=9)).plan = "improved"
    degraded = _nearest(fraud[2:-3], end - timedelta(days=4))
    degraded.plan = "degraded"
    churn_staging = [d for d in deploys if d.stream == ("churn-model", "staging")]
    max(churn_staging, key=lambda d: d.at).plan = "sparse"
    deploys.append(_rollback_of(degraded, fraud[fraud.index(degraded) - 1]))
    for stream_deploys in _streams(deploys).values():
        min(stream_deploys, key=lambda d: d.at).plan = "first"


def _nearest(deploys: list[DeployScript], at: datetime) -> DeployScript:
    return min(deploys, key=lambda d: abs(d.at - at))


def _rollback_of(degraded: DeployScript, restored: DeployScript) -> DeployScript:
    """On-call had CI deploy the previous version again, 100 minutes after the degraded one went out."""
    event = {**restored.event, "author": "on-call", "changelog": f"Rollback to {restored.version}"}
    event["ci_url"] = f"{restored.event['ci_url']}-rollback"
    return DeployScript(
        key=f"{degraded.key}-rollback",
        service=degraded.service,
        environment=degraded.environment,
        version=restored.version,
        at=degraded.at + timedelta(minutes=100),
        event=event,
        plan="rollback",
        restores=restored,
    )


def _streams(deploys: list[DeployScript]) -> dict[tuple[str, str], list[DeployScript]]:
    streams: dict[tuple[str, str], list[DeployScript]] = {}
    for deploy in sorted(deploys, key=lambda d: d.at):
        streams.setdefault(deploy.stream, []).append(deploy)
    return streams


def _fail_some(rng: random.Random, deploys: list[DeployScript]) -> None:
    """A few ordinary releases fail on staging, and CI stops them there: they never reach production."""
    protected = {(d.service, d.version) for d in deploys if d.plan != "normal" or d.restores}
    stopped = set()
    for deploy in deploys:
        release = (deploy.service, deploy.version)
        if deploy.environment == "staging" and release not in protected and rng.random() < 0.1:
            deploy.status = "failed"
            stopped.add(release)
    deploys[:] = [d for d in deploys if d.environment == "staging" or (d.service, d.version) not in stopped]


def _levels_and_lifetimes(deploys: list[DeployScript], end: datetime) -> None:
    """Metric levels carry over from deploy to deploy; a rollback brings back the levels it restores."""
    for stream_deploys in _streams(deploys).values():
        live = [d for d in stream_deploys if d.live]
        levels: dict[str, float] = {}
        for deploy, successor in zip(live, [*live[1:], None], strict=True):
            if deploy.restores is not None:
                levels = dict(deploy.restores.levels)
            elif deploy.environment == "production":
                levels = {**levels, **{k: levels.get(k, 1.0) * v for k, v in EFFECTS.get(deploy.plan, {}).items()}}
            deploy.levels = levels
            deploy.live_until = successor.at if successor else end


def schedule(deploys: list[DeployScript], end: datetime) -> list[Action]:
    """What happens when, in time order: deploy events, posted points and samples, and beat's sweeps."""
    actions = []
    for deploy in deploys:
        actions.append(Action(deploy.at, "deploy", deploy))
        if deploy.live:
            actions += _traffic(deploy, end)
            actions += [Action(deploy.at + after, "sweep") for after in SWEEPS_AFTER if deploy.at + after < end]
    # At one moment: deploys first, then data, then sweeps; a predecessor's last data comes a second earlier.
    order = {"deploy": 0, "points": 1, "samples": 2, "sweep": 3}
    return sorted(actions, key=lambda a: (a.at, order[a.kind]))


def _traffic(deploy: DeployScript, end: datetime) -> list[Action]:
    start, until = deploy.at, deploy.live_until or end
    if deploy.plan == "sparse":  # a couple of minutes of traffic: too little to judge
        return [Action(start + POSTS_AFTER[0], "points", deploy, start + timedelta(minutes=10), start + POSTS_AFTER[0])]
    spans = [(start, min(until, start + FIRST_TRAFFIC))]
    tail_start = max(until - LAST_TRAFFIC, spans[0][1])
    if tail_start < until:
        spans.append((tail_start, until))
    cuts = sorted({c for c in (start + POSTS_AFTER[0], start + POSTS_AFTER[1], until) if start < c <= until})
    actions, previous = [], start
    for cut in cuts:
        posted_at = cut - timedelta(seconds=1) if cut == until and until < end else min(cut, end)
        actions += [
            Action(posted_at, "points", deploy, max(previous, a), min(cut, b))
            for a, b in spans
            if max(previous, a) < min(cut, b)
        ]
        previous = cut
    if deploy.samples:
        window_end = min(until, start + FIRST_TRAFFIC)
        posted_at = window_end - timedelta(seconds=1) if window_end == until and until < end else window_end
        actions.append(Action(posted_at, "samples", deploy, start, window_end))
    return actions
