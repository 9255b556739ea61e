"""Reads that join several apps' data: the timeline's rows with each app's badges, the DORA figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from alerts.selectors import open_alert_counts
from dashboard.dora import BANDS, BANDS_SOURCE, DeployFact, band, dora_figures, is_model_only, weekly_trend
from deployments.models import Deploy, Status
from deployments.selectors import deploy_list
from metrics.drift.selectors import DriftBadge, drift_badges
from metrics.impact.selectors import ImpactBadge, impact_badges
from rollbacks.selectors import RollbackBadges, rollback_badges
from tracker.models import Project


@dataclass(frozen=True)
class TimelineRow:
    """One deploy on the timeline with each app's badge for it."""

    deploy: Deploy
    impact: ImpactBadge | None
    drift: DriftBadge | None
    open_alerts: int
    rollback: RollbackBadges | None


def timeline_rows(deploys: list[Deploy]) -> list[TimelineRow]:
    """Each app's badges for a page of deploys: one query per app, whatever the number of rows."""
    ids = [d.pk for d in deploys]
    impact, drift = impact_badges(deploy_ids=ids), drift_badges(deploy_ids=ids)
    alerts, rollbacks = open_alert_counts(deploy_ids=ids), rollback_badges(deploy_ids=ids)
    return [
        TimelineRow(
            deploy=d,
            impact=impact.get(d.pk),
            drift=drift.get(d.pk),
            open_alerts=alerts.get(d.pk, 0),
            rollback=rollbacks.get(d.pk),
        )
        for d in deploys
    ]


def dora_facts(
    *,
    project: Project,
    since: datetime,
    until: datetime,
    production_only: bool = True,
    service: str | None = None,
    environment: str | None = None,
) -> list[DeployFact]:
    """Deploy facts for the DORA figures, in one query (verdict and first alert joined in)."""
    deploys = deploy_list(project=project, service=service, environment=environment, since=since, until=until)
    if production_only and not environment:
        deploys = deploys.filter(environment__is_production=True)
    rows = deploys.annotate(first_alert_at=Min("alerts__started_at")).values(
        "service__name",
        "environment__name",
        "deployed_at",
        "status",
        "commit_timestamp",
        "finished_at",
        "impact_report__verdict",
        "impact_report__computed_at",
        "first_alert_at",
        "commit_sha",
        "model_version",
        "baseline__commit_sha",
        "baseline__model_version",
    )
    return [_fact(row) for row in rows]


def _fact(row: dict) -> DeployFact:
    verdict = row["impact_report__verdict"]
    degraded_at = row["impact_report__computed_at"] if verdict == "degraded" else None
    return DeployFact(
        service=row["service__name"],
        environment=row["environment__name"],
        deployed_at=row["deployed_at"],
        went_out=row["status"] in (Status.SUCCEEDED, Status.ROLLED_BACK),
        rolled_back=row["status"] == Status.ROLLED_BACK,
        verdict=verdict,
        commit_at=row["commit_timestamp"],
        finished_at=row["finished_at"],
        first_signal_at=row["first_alert_at"] or degraded_at,
        model_only=is_model_only(
            row["commit_sha"], row["model_version"], row["baseline__commit_sha"], row["baseline__model_version"]
        ),
    )


DORA_DEFINITIONS = {
    "deploys_per_day": "deploys that went out (succeeded, including those later rolled back) per day of the window",
    "lead_time_hours": "median of finished_at − commit_timestamp over deploys that carry both",
    "change_failure_rate": "deploys whose impact verdict was degraded or that were rolled back ÷ deploys that went out",
    "time_to_restore_hours": "median from a failed change's first alert (else its degraded verdict, else the deploy) "
    "to the next deploy of the same service and environment that went out and is not itself a failed change",
    "model_only": "a deploy on the same commit as its baseline with another model version (a retrain); counted "
    "apart from code deploys, with its own frequency and change failure rate",
}


def dora_report(
    *, project, days: int, production_only: bool, service: str | None = None, environment: str | None = None
) -> dict:
    until = timezone.now()
    since = until - timedelta(days=days)
    facts = dora_facts(
        project=project,
        since=since,
        until=until,
        production_only=production_only,
        service=service,
        environment=environment,
    )
    rows = dora_figures(facts, days)
    return {
        "since": since,
        "until": until,
        "days": days,
        "production_only": production_only,
        "rows": rows,
        "definitions": DORA_DEFINITIONS,
        "trend": weekly_trend(facts, since, until),
        "bands": _bands(rows[-1] if rows else {}),
    }


def _bands(total: dict) -> list[dict]:
    """Each figure of the total row with its band and every band's stated limits."""
    return [
        {
            "figure": figure,
            "value": total.get(figure),
            "band": asdict(found) if (found := band(figure, total.get(figure))) else None,
            "limits": [(name, limit) for name, limit, _ in BANDS[figure]],
            "source": BANDS_SOURCE,
        }
        for figure in BANDS
    ]
