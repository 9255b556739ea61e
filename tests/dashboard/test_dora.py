"""DORA figures on hand-worked histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dashboard.dora import DeployFact, band, dora_figures, is_model_only, weekly_trend
from deployments.services import deploy_record
from metrics.impact.models import ImpactReport

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def fact(hours, *, rolled_back=False, verdict="healthy", went_out=True, lead=None, signal=None, svc="a", env="prod"):
    at = T0 + timedelta(hours=hours)
    return DeployFact(
        service=svc,
        environment=env,
        deployed_at=at,
        went_out=went_out,
        rolled_back=rolled_back,
        verdict=verdict,
        commit_at=at - timedelta(hours=lead) if lead is not None else None,
        finished_at=at if lead is not None else None,
        first_signal_at=T0 + timedelta(hours=signal) if signal is not None else None,
    )


def test_a_hand_worked_history_gives_the_four_figures():
    facts = [
        fact(0, lead=2),
        fact(24, verdict="degraded", lead=4, signal=25),  # failed change, first alert an hour later
        fact(27, lead=1),  # restores it: 27 - 25 = 2 h
        fact(48, rolled_back=True, lead=6),  # failed change without signal: from the deploy itself
        fact(52, verdict="improved", lead=3),  # restores it: 4 h
        fact(60, went_out=False, verdict=None),  # a failed deploy never went out: not counted
    ]
    [row] = dora_figures(facts, days=10)
    assert row["deploys"] == 5 and row["deploys_per_day"] == 0.5
    assert row["lead_time_hours"] == 3.0  # median of 2, 4, 1, 6, 3
    assert row["change_failures"] == 2 and row["change_failure_rate"] == 0.4
    assert row["time_to_restore_hours"] == 3.0 and row["restores_n"] == 2  # median of 2 h and 4 h


def test_an_unrestored_failure_counts_as_a_failure_but_not_in_time_to_restore():
    [row] = dora_figures([fact(0), fact(5, verdict="degraded")], days=1)
    assert row["change_failure_rate"] == 0.5 and row["time_to_restore_hours"] is None


def test_streams_are_separate_and_pooled_in_the_total():
    facts = [fact(0, svc="a"), fact(1, svc="a", verdict="degraded"), fact(2, svc="b"), fact(3, svc="b")]
    rows = {(r["service"], r["environment"]): r for r in dora_figures(facts, days=2)}
    assert rows[("a", "prod")]["change_failure_rate"] == 0.5
    assert rows[("b", "prod")]["change_failure_rate"] == 0.0
    assert rows[("all", "all")]["deploys"] == 4 and rows[("all", "all")]["change_failure_rate"] == 0.25
    # b's deploy at 2 h does not "restore" a's failure: restores stay within a stream.
    assert rows[("a", "prod")]["time_to_restore_hours"] is None


def test_the_api_and_page_count_production_rollbacks_as_change_failures(api, client, alice, project):
    now = datetime.now(UTC)
    for n, version in enumerate(["1.0", "1.1", "1.0"]):
        deploy_record(
            project=project,
            service="svc",
            environment="production",
            version=version,
            finished_at=now - timedelta(hours=10 - n),
            commit_timestamp=now - timedelta(hours=12 - n),
        )
    deploy_record(project=project, service="svc", environment="staging", version="9")
    body = api.get("/api/v1/dora", {"days": 7}).json()
    [row] = body["rows"]
    assert (row["environment"], row["deploys"], row["change_failures"]) == ("production", 3, 1)
    assert row["lead_time_hours"] == 2.0
    assert api.get("/api/v1/dora", {"days": 0}).status_code == 400
    client.force_login(alice)
    page = client.get(f"/{project.slug}/dora/").content.decode()
    assert "Change failure rate" in page and "33 %" in page


def test_model_only_deploys_are_counted_apart_with_their_own_frequency_and_failure_rate():
    facts = [
        fact(0),  # code
        replace(fact(10), model_only=True),  # retrain
        replace(fact(20, verdict="degraded"), model_only=True),  # retrain that hurt
        fact(30, rolled_back=True),  # code, failed
        fact(40),  # code
        replace(fact(50), model_only=True),  # retrain
    ]
    [row] = dora_figures(facts, days=4)
    assert (row["model_deploys"], row["model_deploys_per_day"], row["model_change_failures"]) == (3, 0.75, 1)
    assert row["model_change_failure_rate"] == 0.333  # 1 of 3
    assert (row["code_deploys"], row["code_deploys_per_day"], row["code_change_failures"]) == (3, 0.75, 1)
    assert row["code_change_failure_rate"] == 0.333
    assert row["deploys"] == 6 and row["change_failure_rate"] == 0.333


def test_a_deploy_is_model_only_when_its_commit_is_its_baselines_and_its_model_is_not():
    assert is_model_only("abc", "42", "abc", "41")
    assert not is_model_only("abc", "42", "abc", "42")  # a redeploy of the same thing
    assert not is_model_only("abd", "42", "abc", "41")  # code changed too
    assert not is_model_only("", "42", "", "41")  # no commit known: not a claim we can make
    assert not is_model_only("abc", "42", None, None)  # no baseline


def test_the_weekly_trend_buckets_each_figure_by_week_back_from_the_window_end():
    until = T0 + timedelta(days=14)
    facts = [
        fact(0, lead=2),  # week 1 (days 0-7)
        fact(24, verdict="degraded", lead=4, signal=25),  # week 1, failure restored at 27 h: 2 h
        fact(27, lead=6),  # week 1
        fact(24 * 8, lead=1),  # week 2
        replace(fact(24 * 9, lead=3), model_only=True),  # week 2, a retrain
    ]
    first, second = weekly_trend(facts, T0, until)
    assert (first["week_start"], first["week_end"]) == (T0, T0 + timedelta(days=7))
    assert (first["deploys"], first["change_failures"], first["change_failure_rate"]) == (3, 1, 0.333)
    assert first["lead_time_hours"] == 4.0  # median of 2, 4, 6
    assert first["time_to_restore_hours"] == 2.0 and first["deploys_per_day"] == round(3 / 7, 2)
    assert (second["deploys"], second["model_deploys"], second["code_deploys"]) == (2, 1, 1)
    assert second["lead_time_hours"] == 2.0 and second["change_failure_rate"] == 0.0
    assert second["time_to_restore_hours"] is None


def test_each_figure_falls_in_the_band_the_2021_report_states():
    assert band("deploys_per_day", 3.0).name == "elite"
    assert band("deploys_per_day", 1 / 7).name == "high"  # exactly once a week
    assert band("deploys_per_day", 0.1).name == "medium"
    assert band("deploys_per_day", 0.01).name == "low"
    assert band("lead_time_hours", 0.5).name == "elite"
    assert band("lead_time_hours", 30).name == "high"
    assert band("lead_time_hours", 24 * 30).name == "medium"
    assert band("lead_time_hours", 24 * 365).name == "low"
    assert band("change_failure_rate", 0.15).name == "elite"
    assert band("change_failure_rate", 0.2).name == "high"
    assert band("change_failure_rate", 0.5).name == "low"
    assert band("time_to_restore_hours", 0.2).name == "elite"
    assert band("time_to_restore_hours", 5).name == "high"
    assert band("time_to_restore_hours", 48).name == "medium"
    assert band("time_to_restore_hours", 500).name == "low"
    assert band("lead_time_hours", None) is None


def test_the_page_counts_seeded_retrains_apart_and_shows_trends_and_bands(client, alice, project):
    """Production deploys of one service: 1.0 (code), 1.1 on the same commit with model 2 (a retrain),
    1.2 on a new commit (code), 1.3 on 1.2's commit with model 3, judged degraded (a retrain that hurt)."""
    now = datetime.now(UTC)
    plan = [("1.0", "a" * 40, "1"), ("1.1", "a" * 40, "2"), ("1.2", "b" * 40, "2"), ("1.3", "b" * 40, "3")]
    deploys = []
    for n, (version, sha, model) in enumerate(plan):
        deploy, _ = deploy_record(
            project=project,
            service="svc",
            environment="production",
            version=version,
            commit_sha=sha,
            model_name="m",
            model_version=model,
            finished_at=now - timedelta(days=3, hours=-n),
        )
        deploys.append(deploy)
    ImpactReport.objects.update_or_create(deploy=deploys[3], defaults={"verdict": "degraded", "final": True})
    client.force_login(alice)
    response = client.get(f"/{project.slug}/dora/", {"days": 30})
    [row] = response.context["report"]["rows"]
    # 2 code deploys and 2 retrains over 30 days; one retrain of two failed, no code deploy did.
    assert (row["code_deploys"], row["model_deploys"]) == (2, 2)
    assert (row["code_deploys_per_day"], row["model_deploys_per_day"]) == (0.07, 0.07)
    assert (row["code_change_failure_rate"], row["model_change_failure_rate"]) == (0.0, 0.5)
    bands = {b["figure"]: b for b in response.context["report"]["bands"]}
    assert bands["deploys_per_day"]["band"]["name"] == "medium"  # 4 in 30 days: between weekly and monthly
    assert bands["change_failure_rate"]["band"]["name"] == "high"  # 1 of 4 = 25 %: within 16-30 %
    html = response.content.decode()
    assert "Accelerate State of DevOps Report 2021" in html
    assert html.count('class="chart dora-chart"') == 4 and 'id="dora-charts"' in html
    assert sum(w["deploys"] for w in response.context["report"]["trend"]) == 4
