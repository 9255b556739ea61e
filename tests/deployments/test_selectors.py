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
    lines = deploy_gauges()
    assert 'deploy_tracker_deploys{status="succeeded"} 1' in lines
    assert lines[-1] in ("deploy_tracker_deploys_unprocessed 0", "deploy_tracker_deploys_unprocessed 1")
