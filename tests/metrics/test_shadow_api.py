"""Shadow pairing end to end: request ids posted with predictions, GET /api/v1/deploys/{id}/shadow against SciPy."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from scipy import stats

from deployments.models import Deploy
from deployments.services import deploy_processed_mark
from metrics.shadow.models import ShadowSample, ShadowSampler
from metrics.stats import shadow as stats_shadow
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def post_deploy(api, version: str, at: datetime, **extra) -> Deploy:
    body = {"service": "fraud-scorer", "environment": "production", "version": version, **extra}
    body["finished_at"] = at.isoformat()
    response = api.post("/api/v1/deploys", body, format="json")
    assert response.status_code == 201, response.content
    deploy_processed_mark(deploy_id=response.json()["id"])  # what the deploy task does: link the baseline
    return Deploy.objects.get(pk=response.json()["id"])


def post_predictions(api, deploy: Deploy, ids: list[str], predictions: list, labels: list | None = None, **extra):
    body = {"service": "fraud-scorer", "environment": "production", "deploy": deploy.pk}
    body |= {"columns": {"amount": [1.0] * len(ids)}, "prediction": predictions, "request_id": ids, **extra}
    if labels is not None:
        body["label"] = labels
    response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    return response


@pytest.fixture
def champion(api) -> Deploy:
    return post_deploy(api, "1.0", T0)


@pytest.fixture
def challenger(api, champion) -> Deploy:
    deploy = post_deploy(api, "2.0", T0 + timedelta(hours=1), strategy="shadow")
    assert deploy.baseline_id == champion.pk
    return deploy


def scored_requests(n: int, seed: int, *, challenger_edge: float = 0.1):
    """Binary labels; the champion right 75 % of the time, the challenger more often by the edge."""
    gen = np.random.default_rng(seed)
    labels = (gen.random(n) < 0.4).astype(float)

    def scores(p_right: float) -> np.ndarray:
        right = gen.random(n) < p_right
        confident = gen.uniform(0.5, 1.0, n)
        return np.round(np.where(right == (labels == 1), confident, 1 - confident), 6)

    return [f"req-{i}" for i in range(n)], scores(0.75), scores(0.75 + challenger_edge), labels


def shadow(api, deploy: Deploy) -> dict:
    response = api.get(f"/api/v1/deploys/{deploy.pk}/shadow")
    assert response.status_code == 200, response.content
    return response.json()


def test_agreement_wilcoxon_and_mcnemar_equal_scipys_when_every_pair_is_kept(api, champion, challenger):
    ids, champ, chall, labels = scored_requests(400, seed=3)
    post_predictions(api, champion, ids, champ.tolist(), labels.tolist())
    # The challenger's rows arrive in another order and without labels: pairing is by request id alone.
    post_predictions(api, challenger, ids[::-1], chall[::-1].tolist())

    body = shadow(api, challenger)

    assert body["champion"] == champion.pk and body["n_pairs"] == 400 and body["sample_rate"] == 1.0
    assert body["task"] == "classification"
    assert body["agreement"]["share"] == pytest.approx(np.mean((chall >= 0.5) == (champ >= 0.5)), abs=1e-9)
    assert body["agreement"]["mean_abs_diff"] == pytest.approx(np.mean(np.abs(chall - champ)), abs=1e-9)
    expected = stats.wilcoxon(chall - champ)
    assert body["shift"]["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert body["shift"]["p"] == pytest.approx(expected.pvalue, abs=1e-9)
    champion_right, challenger_right = (champ >= 0.5) == (labels == 1), (chall >= 0.5) == (labels == 1)
    b, c = int((champion_right & ~challenger_right).sum()), int((~champion_right & challenger_right).sum())
    assert (body["quality"]["b"], body["quality"]["c"]) == (b, c)
    mcnemar_p = stats.binomtest(b, b + c, 0.5).pvalue
    assert body["quality"]["p"] == pytest.approx(mcnemar_p, abs=1e-9)
    assert mcnemar_p < 0.05 and c > b
    assert body["verdict"] == "better"


def test_labels_posted_later_for_the_same_requests_fill_in_the_quality(api, champion, challenger):
    ids, champ, chall, labels = scored_requests(200, seed=4, challenger_edge=-0.2)
    post_predictions(api, champion, ids, champ.tolist())
    post_predictions(api, challenger, ids, chall.tolist())
    assert shadow(api, challenger)["verdict"] == "insufficient_data"

    # The labels come back with the request ids (and the predictions again, as a batch needs them).
    post_predictions(api, champion, ids, champ.tolist(), labels.tolist())

    body = shadow(api, challenger)
    assert body["quality"]["n_labelled"] == 200
    assert ShadowSample.objects.filter(deploy=champion).count() == 200  # the label filled in, nothing doubled
    assert body["verdict"] == "worse"


def test_a_regression_shadow_is_judged_on_absolute_errors_like_scipy(api, champion, challenger):
    gen = np.random.default_rng(5)
    truth = gen.normal(100, 15, 300)
    champ, chall = np.round(truth + gen.normal(0, 5, 300), 6), np.round(truth + gen.normal(0, 3, 300), 6)
    ids = [f"r{i}" for i in range(300)]
    post_predictions(api, champion, ids, champ.tolist(), np.round(truth, 6).tolist())
    post_predictions(api, challenger, ids, chall.tolist())

    body = shadow(api, challenger)

    assert body["task"] == "regression" and body["agreement"]["share"] is None
    mean_abs_diff = np.mean(np.abs(chall - champ))
    assert body["agreement"]["mean_abs_diff"] == pytest.approx(mean_abs_diff, abs=1e-9)
    over_std = mean_abs_diff / np.std(champ, ddof=1)
    assert body["agreement"]["mean_abs_diff_over_champion_std"] == pytest.approx(over_std, abs=1e-9)
    expected = stats.wilcoxon(np.abs(chall - np.round(truth, 6)) - np.abs(champ - np.round(truth, 6)))
    assert body["quality"]["test"] == "wilcoxon_abs_error"
    assert body["quality"]["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert body["quality"]["p"] == pytest.approx(expected.pvalue, abs=1e-9)
    assert expected.pvalue < 0.05 and body["verdict"] == "better"  # the challenger's errors are smaller


def test_storage_stays_under_the_bound_and_the_sampled_verdict_matches_the_full_data(
    api, champion, challenger, monkeypatch
):
    monkeypatch.setattr(stats_shadow, "SAMPLE_SIZE", 300)
    ids, champ, chall, labels = scored_requests(6000, seed=6)
    order = np.random.default_rng(7).permutation(6000)  # the challenger sees the requests in another order
    for start in range(0, 6000, 1000):
        part = slice(start, start + 1000)
        post_predictions(api, champion, ids[part], champ[part].tolist(), labels[part].tolist())
        mine = order[part]
        post_predictions(api, challenger, [ids[i] for i in mine], chall[mine].tolist())

    body = shadow(api, challenger)

    for deploy in (champion, challenger):
        assert ShadowSample.objects.filter(deploy=deploy).count() == 300
        assert ShadowSampler.objects.get(deploy=deploy).seen == 6000
    kept = [
        set(ShadowSample.objects.filter(deploy=d).values_list("request_hash", flat=True))
        for d in (champion, challenger)
    ]
    assert kept[0] == kept[1]  # the same requests on both sides
    assert kept[0] == set(stats_shadow.bottom_k(stats_shadow.request_hashes(ids), 300).tolist())
    assert body["n_pairs"] == 300 and body["sample_rate"] < 0.1
    right = [(s >= 0.5) == (labels == 1) for s in (champ, chall)]
    b, c = int((right[0] & ~right[1]).sum()), int((~right[0] & right[1]).sum())
    full_verdict = "better" if stats.binomtest(b, b + c, 0.5).pvalue < 0.05 and c > b else "not better"
    assert body["verdict"] == full_verdict == "better"


def test_a_champions_requests_from_before_its_challenger_went_out_are_not_kept(api, champion, challenger):
    before = (T0 + timedelta(minutes=30)).isoformat()
    post_predictions(api, champion, ["old-1", "old-2"], [0.1, 0.9], timestamp=[before, before])
    post_predictions(api, champion, ["new-1"], [0.2])

    assert ShadowSampler.objects.get(deploy=champion).seen == 1
    assert ShadowSample.objects.filter(deploy=champion).count() == 1


def test_a_deploy_that_pairs_with_nothing_keeps_no_requests(api, champion):
    post_predictions(api, champion, ["a", "b"], [0.1, 0.9])
    assert not ShadowSample.objects.exists()
    body = shadow(api, champion)
    assert (body["champion"], body["n_pairs"], body["verdict"]) == (None, 0, "insufficient_data")


def test_a_shadow_deploy_without_pairs_answers_insufficient_data(api, challenger):
    body = shadow(api, challenger)
    assert body["n_pairs"] == 0 and body["verdict"] == "insufficient_data"
    assert body["agreement"] is None and body["shift"] is None and body["quality"] is None


def test_another_projects_deploy_is_not_found(other_api, challenger):
    assert other_api.get(f"/api/v1/deploys/{challenger.pk}/shadow").status_code == 404


def test_a_request_id_of_the_wrong_type_is_refused_by_index_and_nothing_is_stored(api, champion, challenger):
    body = {"service": "fraud-scorer", "environment": "production", "deploy": challenger.pk}
    body |= {"columns": {"amount": [1.0, 2.0]}, "prediction": [0.1, 0.2], "request_id": ["a", 7]}
    response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]["request_id"]) == ["1"]
    assert not ShadowSample.objects.exists() and not ShadowSampler.objects.exists()


def test_a_row_with_a_request_id_over_200_characters_is_refused_by_its_index(api, challenger):
    rows = [{"features": {"amount": 1.0}, "prediction": 0.5, "request_id": r} for r in ("ok", "x" * 201)]
    body = {"service": "fraud-scorer", "environment": "production", "deploy": challenger.pk, "rows": rows}
    response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]["rows"]) == ["1"]
    assert "request_id" in response.json()["error"]["fields"]["rows"]["1"]


def test_request_ids_of_another_length_than_the_predictions_are_refused(api, challenger):
    body = {"service": "fraud-scorer", "environment": "production", "deploy": challenger.pk}
    body |= {"columns": {"amount": [1.0, 2.0]}, "prediction": [0.1, 0.2], "request_id": ["a"]}
    response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"request_id": ["has 1 values, prediction has 2"]}


def post_in_thread(raw_token: str, bodies: list[dict], failures: list) -> None:
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
def test_concurrent_batches_for_both_sides_keep_exactly_the_bottom_k_on_each(api, token, monkeypatch):
    monkeypatch.setattr(stats_shadow, "SAMPLE_SIZE", 200)
    champion = post_deploy(api, "1.0", T0)
    challenger = post_deploy(api, "2.0", T0 + timedelta(hours=1), strategy="ab")
    ids, champ, chall, _ = scored_requests(4000, seed=8)
    envelope = {"service": "fraud-scorer", "environment": "production"}
    bodies = [
        {
            **envelope,
            "deploy": d.pk,
            "columns": {"amount": [1.0] * 500},
            "prediction": scores[s : s + 500].tolist(),
            "request_id": ids[s : s + 500],
        }
        for d, scores in ((champion, champ), (challenger, chall))
        for s in range(0, 4000, 500)
    ]
    failures: list = []
    threads = [threading.Thread(target=post_in_thread, args=(token, bodies[i::4], failures)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    expected = set(stats_shadow.bottom_k(stats_shadow.request_hashes(ids), 200).tolist())
    for deploy in (champion, challenger):
        assert set(ShadowSample.objects.filter(deploy=deploy).values_list("request_hash", flat=True)) == expected
        assert ShadowSampler.objects.get(deploy=deploy).seen == 4000
    assert shadow(api, challenger)["n_pairs"] == 200


def test_unnamed_points_and_rows_during_a_shadow_belong_to_the_champion_that_serves_them(api, champion, challenger):
    during = (T0 + timedelta(hours=1, minutes=5)).timestamp()
    points = [{"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": 1.0,
               "timestamp": during}, {"service": "fraud-scorer", "environment": "production", "name": "latency_ms",
                                      "value": 2.0, "timestamp": during, "deploy": challenger.pk}]  # fmt: skip
    answer = api.post("/api/v1/metrics", {"points": points}, format="json").json()
    assert answer["deploys"] == {str(champion.pk): 1, str(challenger.pk): 1}
    rows = {"service": "fraud-scorer", "environment": "production", "columns": {"amount": [1.0, 2.0, 3.0]},
            "prediction": [0.1, 0.2, 0.3], "timestamp": [during] * 3}  # fmt: skip
    response = api.post("/api/v1/predictions", json.dumps(rows), content_type="application/json")
    assert response.status_code == 202 and response.json()["deploys"] == {str(champion.pk): 3}


def test_the_deploy_after_a_shadow_is_judged_against_the_champion_not_the_shadow(api, champion, challenger):
    following = post_deploy(api, "3.0", T0 + timedelta(hours=2))
    assert following.baseline_id == champion.pk
    # Nor is the shadow offered as a rollback target: it never served.
    from rollbacks.selectors import rollback_candidates

    assert [d.pk for d in rollback_candidates(deploy=following)] == [champion.pk]
