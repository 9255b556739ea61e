from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from deployments.models import Deploy
from deployments.selectors import deploy_gauges
from deployments.services import deploy_record


def record(project, version, hours_ago):
    finished_at = timezone.now() - timedelta(hours=hours_ago)
    return deploy_record(
        project=project, service="svc", environment="production", version=version, finished_at=finished_at
    )[0]


def test_deploy_ordering_ignores_arrival_order(project):
    later = record(project, "1.1", hours_ago=1)
    earlier = record(project, "1.0", hours_ago=5)
    assert list(Deploy.objects.for_timeline().values_list("pk", flat=True)) == [later.pk, earlier.pk]


def test_the_deploy_gauges_count_deploys_by_status_and_the_unprocessed(project):
    record(project, "1.0", hours_ago=5)
    by_status, unprocessed = deploy_gauges()
    counts = {sample.labels["status"]: sample.value for sample in by_status.samples}
    # Every status is exported, 0 where no deploy has it.
    assert counts == {"pending": 0, "in_progress": 0, "succeeded": 1, "failed": 0, "rolled_back": 0}
    assert [sample.value for sample in unprocessed.samples] in ([0], [1])
