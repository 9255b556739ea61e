"""Demo prediction samples: fraud-scorer's recent production deploys, one with input drift (and an expected
feature change), one with prediction drift on stable inputs (the model change), the rest stable."""

from __future__ import annotations

import time

import numpy as np

from deployments.models import Deploy
from deployments.services import deploy_link
from metrics.drift.services import drift_compute, samples_ingest
from metrics.predictions import validate_batch
from tracker.models import Project

ROWS = 3000
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "MX", "CA", "AU"]
COUNTRY_P = np.array([30, 14, 11, 9, 7, 6, 5, 5, 4, 4, 3, 2], dtype=float)
MERCHANTS = ["grocery", "travel", "electronics", "fashion", "gaming", "fuel", "pharmacy", "other"]
MERCHANT_P = np.array([25, 10, 12, 15, 8, 14, 6, 10], dtype=float)
DEVICES = ["ios", "android", "web"]


def _columns(gen: np.random.Generator, drift: str) -> dict:
    inputs = drift == "inputs"
    country_p = COUNTRY_P[::-1] if inputs else COUNTRY_P  # a new market's traffic
    merchant_p = np.roll(MERCHANT_P, 3) if inputs else MERCHANT_P
    age = gen.gamma(2.0, 180.0, ROWS).round(1)
    missing = gen.random(ROWS) < (0.15 if inputs else 0.01)  # a broken join drops account ages
    return {
        "amount": gen.lognormal(3.6 if inputs else 3.2, 0.9, ROWS).round(2).tolist(),
        "account_age_days": [None if m else float(a) for m, a in zip(missing, age, strict=True)],
        "num_txn_24h": gen.poisson(6.5 if inputs else 3.0, ROWS).tolist(),
        "hour": gen.integers(0, 24, ROWS).tolist(),
        "country": gen.choice(COUNTRIES, ROWS, p=country_p / country_p.sum()).tolist(),
        "merchant_category": gen.choice(MERCHANTS, ROWS, p=merchant_p / merchant_p.sum()).tolist(),
        "device": gen.choice(DEVICES, ROWS, p=[0.45, 0.4, 0.15]).tolist(),
        "is_new_customer": (gen.random(ROWS) < 0.18).tolist(),
    }


def _batch(deploy: Deploy, seed: int, drift: str) -> dict:
    gen = np.random.default_rng(seed)
    columns = _columns(gen, drift)
    amount = np.log(np.array(columns["amount"]))
    logit = -3.2 + 0.6 * (amount - 3.2) + 0.25 * np.array(columns["is_new_customer"]) + gen.normal(0, 0.6, ROWS)
    if drift == "model":
        logit = logit * 1.6 + 0.9  # a recalibrated model: scores higher and more spread on the same inputs
    score = 1 / (1 + np.exp(-logit))
    return {
        "service": deploy.service.name,
        "environment": deploy.environment.name,
        "deploy": deploy.pk,
        "columns": columns,
        "prediction": score.round(4).tolist(),
        "label": (gen.random(ROWS) < score).astype(int).tolist(),
    }


def seed(*, project: Project) -> list[Deploy]:
    """Post samples to fraud-scorer's last five production deploys before the rollback; judge them."""
    stream = Deploy.objects.filter(project=project, service__name="fraud-scorer", environment__name="production")
    for deploy in stream.order_by("deployed_at", "id"):
        deploy_link(deploy=deploy)  # as the deploy task does: baselines and the rollback, in order
    deploys = list(
        stream.filter(is_rollback=False)
        .exclude(status="failed")
        .select_related("service", "environment")
        .order_by("deployed_at", "id")
    )[-5:]
    # the newest of them was rolled back: its inputs drifted; the one before changed only the model
    plans = ["stable", "stable", "stable", "model", "inputs"][-len(deploys) :]
    input_drift = deploys[-1]
    Deploy.objects.filter(pk=input_drift.pk).update(expected_drift=["merchant_category"])
    for index, (deploy, plan) in enumerate(zip(deploys, plans, strict=True)):
        batch = validate_batch(_batch(deploy, seed=100 + index, drift=plan), now=time.time())
        samples_ingest(project=project, batch=batch)
    for deploy in deploys[1:]:
        drift_compute(deploy=Deploy.objects.select_related("service", "baseline").get(pk=deploy.pk))
    return deploys
