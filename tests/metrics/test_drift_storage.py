"""Bounded storage: a million rows into one deploy, and concurrent batches that lose no counts."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection

from deployments.models import Deploy
from deployments.services import deploy_processed_mark
from metrics.drift.models import ColumnSketch, SampleColumn
from metrics.drift.services import samples_ingest
from metrics.predictions import validate_batch
from metrics.stats import sketch as sk
from tests.helpers import client_for

COUNTRIES = np.array(["DE", "FR", "IT", "ES", "NL"], dtype=object)


def make_deploy(api) -> Deploy:
    body = {"service": "fraud-scorer", "environment": "production", "version": "1.0"}
    body["finished_at"] = datetime(2026, 11, 20, 12, tzinfo=UTC).isoformat()
    response = api.post("/api/v1/deploys", body, format="json")
    assert response.status_code == 201, response.content
    deploy_processed_mark(deploy_id=response.json()["id"])
    return Deploy.objects.get(pk=response.json()["id"])


def batch_body(deploy: Deploy, seed: int, n: int) -> dict:
    gen = np.random.default_rng(seed)
    amount = gen.lognormal(3, 1, n).round(3).tolist()
    for i in range(0, n, 50):
        amount[i] = None  # one missing value in 50
    return {
        "service": "fraud-scorer",
        "environment": "production",
        "deploy": deploy.pk,
        "columns": {"amount": amount, "country": COUNTRIES[gen.integers(0, 5, n)].tolist()},
        "prediction": gen.random(n).round(4).tolist(),
    }


def stored_sizes(deploy: Deploy) -> dict[str, int]:
    return {
        name: len(bytes(data))
        for name, data in ColumnSketch.objects.filter(deploy=deploy).values_list("column__name", "data")
    }


def stored_sketches(deploy: Deploy) -> dict[str, sk.Sketch]:
    """The deploy's sketches by column name (binned ones refer to their column's frozen edges)."""
    return {
        name: sk.from_bytes(bytes(data), edges=None if edges is None else np.frombuffer(bytes(edges), "<f8"))
        for name, data, edges in ColumnSketch.objects.filter(deploy=deploy).values_list(
            "column__name", "data", "column__edges"
        )
    }


@pytest.mark.django_db
def test_a_million_rows_into_one_deploy_stay_under_each_columns_ceiling(api):
    deploy = make_deploy(api)
    sizes: list[dict[str, int]] = []
    for seed in range(100):  # 100 batches of 10,000 rows
        batch = validate_batch(batch_body(deploy, seed, 10_000), now=time.time())
        samples_ingest(project=deploy.project, batch=batch)
        sizes.append(stored_sizes(deploy))
    amount = stored_sketches(deploy)["amount"]
    assert (amount.n, amount.nulls) == (980_000, 20_000)
    assert amount.counts.sum() == 980_000 and len(amount.reservoir) == sk.OVERFLOW_SAMPLE
    ceilings = {"amount": sk.max_size_bytes("numeric"), "prediction": sk.max_size_bytes("numeric")}
    ceilings["country"] = sk.max_size_bytes("categorical")
    for name, ceiling in ceilings.items():
        assert max(s[name] for s in sizes) <= ceiling
        # no growth with traffic once the reservoir is full (only the digits of the counts can grow)
        assert sizes[-1][name] - sizes[1][name] <= 16
    assert SampleColumn.objects.exclude(edges=None).count() == 2  # both numeric columns froze their edges


def post_batches(raw_token: str, bodies: list[dict], failures: list) -> None:
    client = client_for(raw_token)
    try:
        for body in bodies:
            response = client.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
            if response.status_code != 202:
                failures.append(response.content)
    finally:
        connection.close()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_one_deploy_lose_no_counts(api, token):
    deploy = make_deploy(api)
    bodies = [batch_body(deploy, seed, 2_000) for seed in range(24)]
    failures: list = []
    threads = [threading.Thread(target=post_batches, args=(token, bodies[i::6], failures)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    sketches = stored_sketches(deploy)
    sent = Counter(c for body in bodies for c in body["columns"]["country"])
    assert sketches["country"].counts == dict(sent)
    amount = sketches["amount"]
    assert (amount.n, amount.nulls) == (47_040, 960)
    assert amount.counts.sum() == 47_040  # 48,000 rows overflowed the reservoir: every value binned once
    values = np.array([v for body in bodies for v in body["columns"]["amount"] if v is not None])
    assert np.array_equal(amount.counts, sk.bin_counts(values, amount.edges))
    assert sketches["prediction"].n == 48_000
