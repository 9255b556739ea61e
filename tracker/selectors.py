from __future__ import annotations

from django.db.models import Count

from deployments.models import Deploy


def prometheus_exposition() -> str:
    """A few process-independent gauges from the database, in Prometheus text format."""
    lines = [
        "# HELP deploy_tracker_deploys Deploys stored, by status.",
        "# TYPE deploy_tracker_deploys gauge",
    ]
    for row in Deploy.objects.values("status").annotate(n=Count("id")).order_by("status"):
        lines.append(f'deploy_tracker_deploys{{status="{row["status"]}"}} {row["n"]}')
    pending = Deploy.objects.filter(status="succeeded", processed_at=None).count()
    lines += [
        "# HELP deploy_tracker_deploys_unprocessed Succeeded deploys whose task has not run yet.",
        "# TYPE deploy_tracker_deploys_unprocessed gauge",
        f"deploy_tracker_deploys_unprocessed {pending}",
    ]
    return "\n".join(lines) + "\n"
