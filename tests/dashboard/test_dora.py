"""DORA figures on hand-worked histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.dora import DeployFact, dora_figures
from deployments.services import deploy_record

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
