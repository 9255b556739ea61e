"""The impact sweep chooses work by what is due: data since the last computation, oldest request first, bounded
by time; reports past their window are finalised however old; lost messages are sent again after a lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact import analysis, tasks
from metrics.impact.analysis import impact_compute
from metrics.impact.models import ImpactReport
from metrics.impact.services import impact_request

pytestmark = pytest.mark.django_db


def _deploy(project, version, minutes_ago, service="fraud-scorer"):
    deploy, _ = deploy_record(
        project=project, service=service, environment="production", version=version,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
    )  # fmt: skip
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The deploys the sweep sends a recomputation for, in order (the broker is not involved)."""
    out: list[int] = []
    monkeypatch.setattr(tasks, "send_now", lambda task, deploy_id: out.append(deploy_id))
    return out


@pytest.fixture
def judged(project):
    """A baseline and a deploy in its window, both judged, every message taken by a worker."""
    baseline, current = _deploy(project, "1.0", 180), _deploy(project, "1.1", 30)
    impact_compute(deploy=baseline)
    impact_compute(deploy=current)
    ImpactReport.objects.update(sent_at=None)
    return baseline, current


def _new_data(deploy, minutes_ago=0) -> None:
    """What an ingested batch does to its deploy's report, at a given time."""
    impact_request(deploy_ids=[deploy.pk])
    ImpactReport.objects.filter(deploy=deploy).update(
        sent_at=None, requested_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_a_burst_of_new_deploys_does_not_push_an_older_deploy_with_data_out_of_the_sweep(
    project, judged, sent, monkeypatch
):
    _, current = judged
    _new_data(current, minutes_ago=3)
    service, environment = current.service, current.environment
    burst = Deploy.objects.bulk_create(
        Deploy(project=project, service=service, environment=environment, version=f"9.{i}",
               deployed_at=timezone.now() - timedelta(seconds=i), processed_at=timezone.now())
        for i in range(700)
    )  # fmt: skip
    ImpactReport.objects.bulk_create(ImpactReport(deploy=d, requested_at=timezone.now()) for d in burst)
    # One chunk per sweep at most: the oldest request goes out first.
    monkeypatch.setattr(tasks, "SWEEP_CHUNK", 50)
    monkeypatch.setattr(tasks, "SWEEP_BUDGET", timedelta(0))
    assert tasks.impacts_sweep() == 50
    assert sent[0] == current.pk
    monkeypatch.setattr(tasks, "SWEEP_BUDGET", timedelta(seconds=20))
    assert tasks.impacts_sweep() == 651  # the next sweep sends the rest, not the same 50 again
    assert len(set(sent)) == 701


def test_a_judged_deploy_with_nothing_new_is_not_sent_and_its_task_does_nothing(judged, sent):
    _, current = judged
    assert tasks.impacts_sweep() == 0
    before = ImpactReport.objects.get(deploy=current).computed_at
    tasks.impact_compute(current.pk)
    assert ImpactReport.objects.get(deploy=current).computed_at == before


def test_new_data_makes_the_deploy_due_and_its_computation_counts_it(judged, sent):
    _, current = judged
    _new_data(current)
    assert tasks.impacts_sweep() == 1 and sent == [current.pk]
    tasks.impact_compute(current.pk)
    report = ImpactReport.objects.get(deploy=current)
    assert report.computed_version == report.data_version and report.requested_at is None
    assert tasks.impacts_sweep() == 0


def test_data_committed_while_a_computation_runs_leaves_the_report_due(judged, sent, monkeypatch):
    _, current = judged
    _new_data(current)
    names = analysis._metric_names

    def a_batch_commits_meanwhile(deploy, settings_by_name):
        ImpactReport.objects.filter(deploy=deploy).update(data_version=F("data_version") + 1)
        return names(deploy, settings_by_name)

    monkeypatch.setattr(analysis, "_metric_names", a_batch_commits_meanwhile)
    tasks.impact_compute(current.pk)
    report = ImpactReport.objects.get(deploy=current)
    assert report.computed_version == report.data_version - 1 and report.requested_at is not None
    assert sent == [current.pk]  # its own message found the report busy: the computation sends it again


def test_a_report_left_open_past_its_window_is_finalised_however_old(project, sent):
    deploy = _deploy(project, "1.0", 10 * 24 * 60)
    ImpactReport.objects.filter(deploy=deploy).update(
        computed_at=timezone.now() - timedelta(days=9), window_ends_at=deploy.deployed_at + timedelta(hours=1),
        sent_at=None,
    )  # fmt: skip
    assert tasks.impacts_sweep() == 1
    tasks.impact_compute(deploy.pk)
    assert ImpactReport.objects.get(deploy=deploy).final


def test_a_sent_recomputation_is_sent_again_only_once_its_message_counts_as_lost(judged, sent):
    _, current = judged
    _new_data(current)
    ImpactReport.objects.filter(deploy=current).update(sent_at=timezone.now())
    assert tasks.impacts_sweep() == 0
    ImpactReport.objects.filter(deploy=current).update(sent_at=timezone.now() - tasks.LOST_AFTER - timedelta(seconds=1))
    assert tasks.impacts_sweep() == 1 and sent == [current.pk]


def test_a_report_a_dead_worker_holds_waits_for_its_claim_to_expire(judged, sent):
    _, current = judged
    _new_data(current)
    ImpactReport.objects.filter(deploy=current).update(claimed_at=timezone.now())
    assert tasks.impacts_sweep() == 0
    ImpactReport.objects.filter(deploy=current).update(claimed_at=timezone.now() - tasks.CLAIM_TIMEOUT)
    assert tasks.impacts_sweep() == 1


def test_a_processed_deploy_whose_report_was_never_opened_gets_one(project, sent):
    deploy = _deploy(project, "1.0", 20)
    ImpactReport.objects.filter(deploy=deploy).delete()
    assert tasks.impacts_sweep() == 1 and sent == [deploy.pk]


def test_every_batch_bumps_the_version_and_only_the_first_unsent_one_sends(
    judged, monkeypatch, django_capture_on_commit_callbacks
):
    _, current = judged
    from tracker import enqueue

    queued = []
    monkeypatch.setattr(enqueue, "send_now", lambda task, deploy_id: queued.append(deploy_id))
    before = ImpactReport.objects.get(deploy=current).data_version
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            impact_request(deploy_ids=[current.pk])
    report = ImpactReport.objects.get(deploy=current)
    assert report.data_version == before + 3 and report.sent_at is not None
    assert queued == [current.pk]
