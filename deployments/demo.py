"""Demo deploy history: two services, two environments, ~30 days, with one rollback."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_record
from tracker.models import Project

SERVICES = {
    "fraud-scorer": {"model": "fraud-gbm", "authors": ["dana", "lee", "priya"], "every_days": 1.6},
    "churn-model": {"model": "churn-xgb", "authors": ["sam", "noor"], "every_days": 2.4},
}
ENVIRONMENTS = ("staging", "production")
DAYS = 30


def _event(rng: random.Random, service: str, env: str, n: int, at: datetime, model_version: int) -> dict:
    spec = SERVICES[service]
    sha = f"{rng.getrandbits(160):040x}"
    return {
        "external_id": f"demo-{service}-{env}-{n}",
        "status": "failed" if rng.random() < 0.07 else "succeeded",
        "commit_sha": sha,
        "ref": "main",
        "author": rng.choice(spec["authors"]),
        "ci_url": f"https://ci.example.com/{service}/runs/{1000 + n}",
        "commit_timestamp": at - timedelta(minutes=rng.randint(25, 600)),
        "started_at": at - timedelta(minutes=rng.randint(4, 15)),
        "finished_at": at,
        "model_name": spec["model"],
        "model_version": str(model_version),
        "model_uri": f"models:/{spec['model']}/{model_version}",
        "model_run_id": f"{rng.getrandbits(64):016x}",
        "model_digest": f"sha256:{rng.getrandbits(256):064x}",
        "data_version": f"features-{(at - timedelta(days=1)):%Y-%m-%d}",
        "params": {
            "max_depth": rng.choice([6, 7, 8]),
            "learning_rate": rng.choice([0.05, 0.1]),
            "n_estimators": rng.choice([300, 400, 500]),
        },
        "strategy": "canary" if env == "production" else "rolling",
        "traffic_percent": 100 if env != "production" else rng.choice([10, 25, 100]),
        "changelog": rng.choice(
            [
                "Retrain on last week's data",
                "Tune thresholds",
                "Add merchant features",
                "Upgrade runtime",
                "Fix feature join",
            ]
        ),
    }


def seed(*, project: Project) -> list[Deploy]:
    rng = random.Random(7)
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(days=DAYS)
    deploys = []
    for service, spec in SERVICES.items():
        at, n, model_version = start, 0, 30
        while True:
            at += timedelta(days=spec["every_days"] * rng.uniform(0.6, 1.4))
            if at > now - timedelta(hours=5):
                break
            n += 1
            model_version += rng.random() < 0.6
            version = f"{at:%Y.%m.%d}.{n}"
            for offset, env in enumerate(ENVIRONMENTS):
                event = _event(rng, service, env, n, at + timedelta(hours=3 * offset), model_version)
                deploy, _ = deploy_record(
                    project=project, service=service, environment=env, version=version, source="seed_demo", **event
                )
                deploys.append(deploy)
    deploys.append(_rollback(project, now))
    return deploys


def _rollback(project: Project, now: datetime) -> Deploy:
    """fraud-scorer production goes back to the version before its latest one."""
    live = list(
        Deploy.objects.filter(
            project=project,
            service__name="fraud-scorer",
            environment__name="production",
            status__in=["succeeded", "rolled_back"],
        )
        .exclude(external_id="demo-fraud-scorer-production-rollback")
        .order_by("-deployed_at")[:2]
    )
    restored = live[1]
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version=restored.version,
        external_id="demo-fraud-scorer-production-rollback",
        status="succeeded",
        commit_sha=restored.commit_sha,
        author="on-call",
        finished_at=now - timedelta(minutes=50),
        model_name=restored.model_name,
        model_version=restored.model_version,
        model_uri=restored.model_uri,
        data_version=restored.data_version,
        params=restored.params,
        strategy="rolling",
        traffic_percent=100,
        changelog=f"Rollback to {restored.version}",
        source="seed_demo",
    )
    return deploy
