"""The deploy page in one voice, built on a few rows (no demo): drift counted one way and explained, realised
quality with its change and a worsening flagged, human words for stored labels, one date format, and a GET that
reads only (a fixed number of queries, no write)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.services import deploy_record
from metrics.drift.models import DriftReport


def record(project, hours_ago, version, **fields):
    deploy, _ = deploy_record(
        project=project, service="fraud-scorer", environment="production", version=version, author="dana",
        finished_at=timezone.now() - timedelta(hours=hours_ago), commit_sha=f"{int(hours_ago * 10):07x}beef", **fields,
    )  # fmt: skip
    return deploy


def column(name, verdict, *, score, threshold, drifted, null_ref=0.01, null_cur=0.01, null_drifted=False):
    return {
        "column": name, "role": "feature", "kind": "numeric", "method": "wasserstein", "score": score,
        "statistic": score, "p_value": None, "threshold": threshold, "drifted": drifted, "severity": score / threshold,
        "n_ref": 500, "n_cur": 480, "sample_ref": 500, "sample_cur": 480, "exact": True, "psi": 0.02,
        "nulls_ref": 5, "nulls_cur": 74, "null_rate_ref": null_ref, "null_rate_cur": null_cur, "null_p_value": 1e-9,
        "null_drifted": null_drifted, "expected": False, "verdict": verdict, "cause": None,
    }  # fmt: skip


@pytest.fixture
def deploys(project):
    baseline = record(project, 30, "1.0.0")
    current = record(project, 2, "1.1.0")
    columns = [
        column("amount", "drifted", score=0.04, threshold=0.1, drifted=False, null_ref=0.011, null_cur=0.154,
               null_drifted=True),
        column("age", "drifted", score=0.3, threshold=0.1, drifted=True),
        *(column(f"f{i}", "stable", score=0.01, threshold=0.1, drifted=False) for i in range(8)),
    ]  # fmt: skip
    quality = {"baseline": {"auc": 0.81, "brier": 0.12, "n": 900}, "current": {"auc": 0.70, "brier": 0.121, "n": 950}}
    DriftReport.objects.create(
        deploy=current, baseline=baseline, status="ok", n_columns=10, n_drifted=2, drift_share=0.2,
        result={"columns": columns, "quality": quality, "drift_share_threshold": 0.5},
        computed_at=timezone.now(), compute_ms=12, final=True,
    )  # fmt: skip
    return baseline, current


@pytest.fixture
def page(client, alice, project, deploys):
    client.force_login(alice)
    return client.get(f"/{project.slug}/deploys/{deploys[1].pk}/").content.decode()


def test_drift_is_counted_one_way_on_the_page_and_the_timeline(client, page, project):
    assert "2 of 10 columns drifted" in page
    assert "2/10" not in page and "20.0%" not in page
    timeline = client.get(f"/{project.slug}/").content.decode()
    assert "2 of 10 columns drifted" in timeline and "2/10" not in timeline


def test_a_column_drifted_by_missing_values_says_so_and_one_that_moved_says_its_score(page):
    rows = dict(re.findall(r'<tr class="drift-row[^"]*" data-column="(\w+)">(.*?)</tr>', page, re.S))
    assert "missing 1.1 % → 15.4 %" in rows["amount"]
    assert "values moved" not in rows["amount"]
    assert "values moved: Wasserstein ÷ std 0.3 ≥ 0.1" in rows["age"]
    assert "missing 1.0 %" not in rows["age"]


def test_realised_quality_shows_the_change_and_flags_a_worsening(page):
    rows = re.findall(r'<tr class="quality-row([^"]*)" data-figure="(\w+)">(.*?)</tr>', page, re.S)
    flags = {figure: classes.strip() for classes, figure, _ in rows}
    assert flags == {"auc": "quality-worse", "brier": "", "n": ""}  # Brier +0.8 %: within the 2 % tolerance
    auc = next(cells for _, figure, cells in rows if figure == "auc")
    assert "0.81 → 0.7" in auc and "−0.11" in auc and "worse" in auc


def test_stored_labels_read_as_words_and_moments_in_one_format(client, alice, project):
    deploy = record(project, 1, "1.2.0", status="in_progress")
    client.force_login(alice)
    body = client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    assert ">In progress<" in body and "in_progress<" not in body
    visible = re.findall(r"<time [^>]*>([^<]*)</time>", body)
    assert visible and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text) for text in visible), visible
    titles = re.findall(r'<time [^>]*title="([^"]*)"', body)
    assert titles and all(title.endswith("ago") or title.startswith("in ") or title == "just now" for title in titles)


def test_the_deploy_page_reads_only_and_its_queries_do_not_grow_with_its_columns(client, alice, project, deploys):
    client.force_login(alice)
    url = f"/{project.slug}/deploys/{deploys[1].pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as first:
        assert client.get(url).status_code == 200
    report = deploys[1].drift_report
    report.result["columns"] += [column(f"g{i}", "stable", score=0.01, threshold=0.1, drifted=False) for i in range(30)]
    report.save()
    with CaptureQueriesContext(connection) as second:
        client.get(url)
    writes = [
        q["sql"]
        for q in first.captured_queries
        if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]
    assert writes == []
    assert len(second) == len(first)


def test_a_deploy_in_its_window_is_judged_every_minute_and_an_old_one_is_not_said_to_be(client, alice, project):
    client.force_login(alice)
    fresh, old = record(project, 0.1, "3.0.0"), record(project, 72, "0.9.0")
    fresh_page = client.get(f"/{project.slug}/deploys/{fresh.pk}/").content.decode()
    old_page = client.get(f"/{project.slug}/deploys/{old.pk}/").content.decode()
    assert "every minute until its observation window ends" in fresh_page
    assert "every minute" not in old_page
    assert "No verdict: the observation window ended" in old_page


LATENCY_SENTENCE = (
    "latency_ms: significantly higher than baseline, mean 65.27 -> 86.08 (+31.9%), median 63.98 -> 85.15, "
    "shift 20.72 [17.24, 24.46], p=6.19e-25, n=120/108; increase is bad, allowed change 10%"
)


def judged(deploy):
    """An impact report as the judge stores it: a summary and one metric with its sentence."""
    from metrics.impact.models import ImpactReport

    metric = {
        "name": "latency_ms", "classification": "High", "failed": True, "critical": False, "improved": False,
        "direction": "increase_is_bad", "allowed_change": 0.1, "mean_baseline": 65.27, "mean_current": 86.08,
        "relative_change": 0.319, "median_baseline": 63.98, "median_current": 85.15, "hl_estimate": 20.72,
        "hl_ci_low": 17.24, "hl_ci_high": 24.46, "confidence": 0.98, "p_value": 6.1899e-25, "n_baseline": 120,
        "n_current": 108, "judged_baseline": 120, "judged_current": 108, "reason": LATENCY_SENTENCE, "windows": {},
    }  # fmt: skip
    summary = "degraded: 0 of 1 metrics pass (score 0)"
    return ImpactReport.objects.update_or_create(
        deploy=deploy,
        defaults={"verdict": "degraded", "score": 0, "final": True, "reasons": [summary, LATENCY_SENTENCE],
                  "metrics": [metric], "computed_at": timezone.now(), "compute_ms": 3},
    )[0]  # fmt: skip


def test_each_metrics_sentence_is_said_once(client, alice, project, deploys):
    judged(deploys[1])
    client.force_login(alice)
    body = client.get(f"/{project.slug}/deploys/{deploys[1].pk}/").content.decode()
    visible = re.sub(r"<[^>]+>", " ", body)
    assert visible.lower().count("significantly higher than baseline") == 1
    assert "degraded: 0 of 1 metrics pass" in visible
    assert 'title="latency_ms: significantly higher' in body  # the full sentence on hover
