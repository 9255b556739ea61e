"""Choosing and vetting the rollback target (pure rules, hand-worked histories)."""

from datetime import UTC, datetime, timedelta

from rollbacks.targets import (
    DeployFacts,
    completes_rollback,
    current_refusal,
    default_target,
    schema_change,
    target_refusal,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def deploy(
    id_,
    version,
    *,
    verdict=None,
    status="succeeded",
    hours=0,
    sha=None,
    service=1,
    env=1,
):
    return DeployFacts(
        id=id_,
        service_id=service,
        environment_id=env,
        version=version,
        commit_sha=sha or f"sha{version}",
        status=status,
        deployed_at=T0 + timedelta(hours=hours),
        verdict=verdict,
    )


CURRENT = deploy(5, "5", verdict="degraded", hours=5)


def test_it_picks_the_newest_earlier_deploy_judged_healthy_or_improved():
    history = [
        deploy(4, "4", verdict="marginal", hours=4),
        deploy(3, "3", verdict="improved", hours=3),
    ]
    history.append(deploy(2, "2", verdict="healthy", hours=2))
    assert default_target(CURRENT, history, baseline_id=4).id == 3


def test_it_falls_back_to_the_baseline_before_any_analysis_exists():
    history = [
        deploy(4, "4", verdict=None, hours=4),
        deploy(3, "3", verdict="pending", hours=3),
    ]
    assert default_target(CURRENT, history, baseline_id=4).id == 4


def test_it_offers_no_default_when_the_baseline_was_judged_bad():
    history = [
        deploy(4, "4", verdict="degraded", hours=4),
        deploy(3, "3", verdict="marginal", hours=3),
    ]
    assert default_target(CURRENT, history, baseline_id=4) is None


def test_it_skips_an_earlier_deploy_of_the_same_release_as_current():
    same_release = deploy(4, "5", verdict="healthy", hours=4, sha="sha5")
    assert default_target(CURRENT, [same_release, deploy(3, "3", verdict="healthy", hours=3)], None).id == 3


def test_it_refuses_the_current_deploy_as_its_own_target():
    assert target_refusal(CURRENT, CURRENT).code == "target_is_current"


def test_it_refuses_a_later_a_failed_or_a_foreign_target():
    assert target_refusal(CURRENT, deploy(6, "6", hours=6)).code == "target_not_earlier"
    assert target_refusal(CURRENT, deploy(3, "3", hours=3, status="failed")).code == "target_not_succeeded"
    assert target_refusal(CURRENT, deploy(3, "3", hours=3, status="rolled_back")).code == "target_not_succeeded"
    assert target_refusal(CURRENT, deploy(3, "3", hours=3, env=2)).code == "target_mismatch"


def test_it_accepts_an_earlier_succeeded_deploy_of_the_same_service():
    assert target_refusal(CURRENT, deploy(3, "3", hours=3)) is None


def test_it_refuses_to_roll_back_a_deploy_already_rolled_back():
    assert current_refusal(deploy(5, "5", status="rolled_back", hours=5)).code == "already_rolled_back"
    assert current_refusal(CURRENT) is None


def test_it_reports_columns_the_target_needs_that_are_no_longer_sent():
    change = schema_change(["age", "income", "zip"], ["age", "income", "device"])
    assert change.missing == ("zip",) and change.added == ("device",) and change.differs
    assert not schema_change(["a", "b"], ["b", "a"]).differs


def test_a_succeeded_deploy_of_the_target_version_completes_the_rollback():
    target = deploy(3, "3", hours=3)
    assert completes_rollback(target, deploy(6, "3", hours=6))


def test_a_rebuild_of_the_target_commit_under_a_new_version_completes_the_rollback():
    target = deploy(3, "3", hours=3, sha="abc")
    assert completes_rollback(target, deploy(6, "3-rebuild", hours=6, sha="abc"))


def test_an_unfinished_or_foreign_or_unrelated_deploy_does_not_complete_it():
    target = deploy(3, "3", hours=3, sha="abc")
    assert not completes_rollback(target, deploy(6, "3", hours=6, status="in_progress"))
    assert not completes_rollback(target, deploy(6, "3", hours=6, env=2))
    assert not completes_rollback(target, deploy(6, "7", hours=6, sha="def"))
    assert not completes_rollback(deploy(3, "3", hours=3, sha=""), deploy(6, "9", hours=6, sha=""))
