"""What the demo's services send while a deploy serves (pure NumPy): metric points and prediction samples.

Points are the API's point rows; samples a columnar prediction batch with a timestamp per row, so the
product attributes both to the deploy that was live at the time, as it does for real traffic.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from demo.story import METRICS, SAMPLE_ROWS, DeployScript

# A metric's typical value per service; a deploy's levels scale it.
BASE = {
    "fraud-scorer": {"latency_ms": 80.0, "error_rate": 0.010, "auc": 0.912, "approval_rate": 0.62},
    "churn-model": {"latency_ms": 140.0, "error_rate": 0.006, "auc": 0.861},
}
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "MX", "CA", "AU"]
COUNTRY_P = np.array([30, 14, 11, 9, 7, 6, 5, 5, 4, 4, 3, 2], dtype=float)
MERCHANTS = ["grocery", "travel", "electronics", "fashion", "gaming", "fuel", "pharmacy", "other"]
MERCHANT_P = np.array([25, 10, 12, 15, 8, 14, 6, 10], dtype=float)
DEVICES = ["ios", "android", "web"]


def _values(rng: np.random.Generator, service: str, name: str, size: int, level: float) -> np.ndarray:
    mean = BASE[service][name] * level
    if name == "latency_ms":
        return rng.gamma(36.0, mean / 36.0, size)  # right-skewed, coefficient of variation 1/6
    if name == "error_rate":
        return np.clip(rng.normal(mean, mean * 0.15, size), 0, 1)
    spread = 0.004 if name == "auc" else 0.015
    return np.clip(rng.normal(mean, spread, size), 0, 1)


def points(deploy: DeployScript, start: datetime, end: datetime, rng: np.random.Generator) -> list[dict]:
    """The stream's metrics for [start, end), each at its rate per minute, at the deploy's levels."""
    minutes = (end - start).total_seconds() / 60
    rows = []
    for name, per_minute in METRICS[deploy.stream].items():
        size = max(1, round(minutes * per_minute))
        stamps = np.sort(rng.uniform(start.timestamp(), end.timestamp(), size))
        values = _values(rng, deploy.service, name, size, deploy.levels.get(name, 1.0))
        rows += [
            {"service": deploy.service, "environment": deploy.environment, "name": name, "value": v, "timestamp": t}
            for t, v in zip(stamps.tolist(), values.tolist(), strict=True)
        ]
    return rows


def samples(deploy: DeployScript, start: datetime, end: datetime, rng: np.random.Generator) -> dict:
    """A columnar batch of fraud-scorer's model calls in [start, end): features, score and the true outcome.

    `inputs`: a new market's traffic (other countries and merchants, larger amounts, busier cards) and a
    broken join that drops account ages; `model`: a recalibrated model scoring the same inputs higher.
    Outcomes come from the inputs alone, so a model change does not move the labels.
    """
    columns = _features(rng, drifted=deploy.samples == "inputs")
    amount = np.log(np.array(columns["amount"]))
    risk = -3.2 + 0.6 * (amount - 3.2) + 0.25 * np.array(columns["is_new_customer"]) + rng.normal(0, 0.6, SAMPLE_ROWS)
    logit = risk * 1.6 + 0.9 if deploy.samples == "model" else risk
    stamps = np.sort(rng.uniform(start.timestamp(), end.timestamp(), SAMPLE_ROWS))
    return {
        "service": deploy.service,
        "environment": deploy.environment,
        "timestamp": stamps.tolist(),
        "columns": columns,
        "prediction": (1 / (1 + np.exp(-logit))).round(4).tolist(),
        "label": (rng.random(SAMPLE_ROWS) < 1 / (1 + np.exp(-risk))).astype(int).tolist(),
    }


def _features(rng: np.random.Generator, *, drifted: bool) -> dict[str, list]:
    country_p = COUNTRY_P[::-1] if drifted else COUNTRY_P
    merchant_p = np.roll(MERCHANT_P, 3) if drifted else MERCHANT_P
    age = rng.gamma(2.0, 180.0, SAMPLE_ROWS).round(1)
    missing = rng.random(SAMPLE_ROWS) < (0.15 if drifted else 0.01)
    return {
        "amount": rng.lognormal(3.6 if drifted else 3.2, 0.9, SAMPLE_ROWS).round(2).tolist(),
        "account_age_days": [None if m else float(a) for m, a in zip(missing, age, strict=True)],
        "num_txn_24h": rng.poisson(6.5 if drifted else 3.0, SAMPLE_ROWS).tolist(),
        "hour": rng.integers(0, 24, SAMPLE_ROWS).tolist(),
        "country": rng.choice(COUNTRIES, SAMPLE_ROWS, p=country_p / country_p.sum()).tolist(),
        "merchant_category": rng.choice(MERCHANTS, SAMPLE_ROWS, p=merchant_p / merchant_p.sum()).tolist(),
        "device": rng.choice(DEVICES, SAMPLE_ROWS, p=[0.45, 0.4, 0.15]).tolist(),
        "is_new_customer": (rng.random(SAMPLE_ROWS) < 0.18).tolist(),
    }
