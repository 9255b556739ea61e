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
from metrics.drift import selectors, services
from metrics.drift.models import ColumnSketch, QualitySketch, SampleColumn
from metrics.drift.services import samples_ingest
from metrics.predictions import validate_batch
from metrics.stats import quality
from metrics.stats import sketch as sk
from tests.helpers import client_for
from tests.metrics.legacy_sketch import assert_same, legacy_pairs_to_bytes, legacy_to_bytes

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
        # no growth with traffic once the reservoir is full: only the header's digits (counts, and floats of
        # varying repr) change; the counts widen from 2 to 4 bytes once a bin holds 65,536 values, past a million
        assert sizes[-1][name] - sizes[1][name] <= 32
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


def ingest(deploy: Deploy, seeds: range, n: int = 10_000) -> list[dict]:
    bodies = [batch_body(deploy, seed, n) for seed in seeds]
    for body in bodies:
        samples_ingest(project=deploy.project, batch=validate_batch(body, now=time.time()))
    return bodies


@pytest.mark.django_db
def test_sketches_stored_in_the_first_layout_keep_working(api):
    deploy = make_deploy(api)
    bodies = ingest(deploy, range(3))  # 30,000 rows: binned on frozen edges
    before = stored_sketches(deploy)
    # The database of an older release: every sketch in the first layout (edges copied in, counts as <i8).
    for row in ColumnSketch.objects.filter(deploy=deploy).select_related("column"):
        row.data = legacy_to_bytes(before[row.column.name])
        row.save(update_fields=["data"])
    assert {bytes(d)[:4] for d in ColumnSketch.objects.values_list("data", flat=True)} == {b"DTS1"}
    old = selectors.deploy_sketches(deploy_ids=[deploy.pk])[deploy.pk]
    for column in SampleColumn.objects.filter(service=deploy.service):
        assert_same(old[column.pk], before[column.name])  # the drift task reads them as they were
    bodies += ingest(deploy, range(3, 5))  # and the ingest merges into them, writing the compact layout
    after = stored_sketches(deploy)
    amount = after["amount"]
    values = np.array([v for body in bodies for v in body["columns"]["amount"] if v is not None])
    assert (amount.n, amount.nulls) == (49_000, 1_000)
    assert np.array_equal(amount.counts, sk.bin_counts(values, amount.edges))
    index = np.searchsorted(amount.edges, values, side="right")
    assert np.allclose(amount.sums, np.bincount(index, values, minlength=len(amount.counts)))
    assert after["country"].counts == dict(Counter(c for body in bodies for c in body["columns"]["country"]))
    sizes = stored_sizes(deploy)
    assert sizes["amount"] < 0.65 * len(legacy_to_bytes(amount))
    assert {
        bytes(data)[:4] for data in ColumnSketch.objects.filter(column__kind="numeric").values_list("data", flat=True)
    } == {b"DTS2"}


@pytest.mark.django_db
def test_a_batch_that_read_its_columns_before_another_froze_their_edges_merges_on_them(api, monkeypatch):
    deploy = make_deploy(api)
    bodies = ingest(deploy, range(2))  # edges frozen, sketches stored referring to them
    learn = services._learn_columns

    def stale(service, columns):  # as if read before the other batch committed its edges
        known, new = learn(service, columns)
        for column in known.values():
            column.edges = None
        return known, new

    monkeypatch.setattr(services, "_learn_columns", stale)
    bodies += ingest(deploy, range(2, 3))
    amount = stored_sketches(deploy)["amount"]
    values = np.array([v for body in bodies for v in body["columns"]["amount"] if v is not None])
    assert amount.n == 29_400 and np.array_equal(amount.counts, sk.bin_counts(values, amount.edges))


@pytest.mark.django_db
def test_pairs_stored_in_the_first_layout_keep_working(api):
    deploy = make_deploy(api)
    bodies = [batch_body(deploy, seed, 6_000) for seed in range(3)]
    for seed, body in enumerate(bodies):
        body["label"] = np.random.default_rng(seed).integers(0, 2, 6_000).tolist()
    samples_ingest(project=deploy.project, batch=validate_batch(bodies[0], now=time.time()))
    row = QualitySketch.objects.get(deploy=deploy)
    pairs = sk.pairs_from_bytes(bytes(row.data))
    row.data = legacy_pairs_to_bytes(pairs)  # as an older release stored them
    row.save(update_fields=["data"])
    assert selectors.realised_quality(deploy_ids=[deploy.pk]) == {
        deploy.pk: quality.realised_quality(pairs.reservoir, pairs.n)
    }
    for body in bodies[1:]:
        samples_ingest(project=deploy.project, batch=validate_batch(body, now=time.time()))
    row.refresh_from_db()
    merged = sk.pairs_from_bytes(bytes(row.data))
    assert bytes(row.data)[:4] == b"DTS2" and merged.n == row.n == 18_000
    assert merged.reservoir.shape == (sk.RESERVOIR_CAPACITY, 2) and set(merged.reservoir[:, 1]) == {0.0, 1.0}
    assert len(bytes(row.data)) < 0.52 * len(legacy_pairs_to_bytes(merged))  # labels as bits
    assert selectors.realised_quality(deploy_ids=[deploy.pk])[deploy.pk]["n"] == 18_000


@pytest.mark.django_db
def test_a_process_reads_each_columns_frozen_edges_once(api):
    from django.test.utils import CaptureQueriesContext

    deploy = make_deploy(api)
    service = deploy.service
    selectors._edges_kept.clear()
    samples_ingest(project=deploy.project, batch=validate_batch(batch_body(deploy, 0, 6_000), now=time.time()))
    with CaptureQueriesContext(connection) as before:
        columns = {c.name: c for c in selectors.columns_of(service=service)}
    assert len(before) == 1 and columns["amount"].edges is None  # no column has overflowed: nothing frozen yet
    for seed in (1, 2):  # 12,000 values: the numeric columns' edges are frozen
        samples_ingest(project=deploy.project, batch=validate_batch(batch_body(deploy, seed, 6_000), now=time.time()))
    stored = dict(SampleColumn.objects.filter(service=service).values_list("name", "edges"))
    assert stored["amount"] is not None and stored["prediction"] is not None and stored["country"] is None
    selectors._edges_kept.clear()  # a new process
    with CaptureQueriesContext(connection) as first:
        columns = {c.name: c for c in selectors.columns_of(service=service)}
    with CaptureQueriesContext(connection) as again:
        kept = {c.name: c for c in selectors.columns_of(service=service)}
    assert len(first) == 2 and len(again) == 1  # the edges are read once, then kept
    assert '"edges",' not in again[0]["sql"] and '"edges" FROM' not in again[0]["sql"]  # only "edges" IS NOT NULL
    for name, raw in stored.items():
        for read in (columns[name], kept[name]):
            assert (read.edges is None) == (raw is None)
            if raw is not None:
                assert np.array_equal(read.edges_array(), np.frombuffer(bytes(raw), dtype="<f8"))
