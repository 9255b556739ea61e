"""Reads of the alerts app: facts for the rules, lists for pages and the API, badge counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from prometheus_client.core import Metric

from alerts.models import (
    Alert,
    AlertRule,
    AlertStatus,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Silence,
    StatusWriteback,
)
from alerts.rules import ColumnFact, DeployFacts, FairnessFact, MetricFact
from deployments.models import Deploy
from metrics.drift.models import DriftReport
from metrics.impact.models import ImpactReport
from tracker.labels import human_label
from tracker.models import Project
from tracker.outbound import url_hint
from tracker.prometheus import gauge_family


def _column_fact(column: dict, cause: str | None) -> ColumnFact:
    role = column.get("role", "feature")
    return ColumnFact(
        name=column["column"],
        role=role,
        verdict=column.get("verdict", "insufficient_data"),
        severity=float(column.get("severity") or 0.0),
        method=column.get("method"),
        score=column.get("score"),
        threshold=column.get("threshold"),
        psi=column.get("psi"),
        cause=column.get("cause") or (cause if role == "prediction" else None),
        value_drifted=column.get("drifted"),
        null_drifted=bool(column.get("null_drifted")),
        null_rate_ref=column.get("null_rate_ref"),
        null_rate_cur=column.get("null_rate_cur"),
    )


def _metric_fact(metric: dict) -> MetricFact:
    return MetricFact(
        name=metric["name"],
        classification=metric.get("classification", "NoData"),
        critical=bool(metric.get("critical")),
        failed=bool(metric.get("failed")),
        relative_change=metric.get("relative_change"),
        p_value=metric.get("p_value"),
        reason=metric.get("reason", ""),
    )


def _fairness_facts(fairness: dict | None) -> tuple[FairnessFact, ...]:
    if not fairness:
        return ()
    return tuple(
        FairnessFact(
            column=c["column"],
            verdict=c["verdict"],
            disparate_impact=c["current"]["disparate_impact"],
            baseline_disparate_impact=(c.get("baseline") or {}).get("disparate_impact"),
            equal_opportunity_diff=c["current"]["equal_opportunity_diff"],
            crossed=bool(c.get("crossed")),
        )
        for c in fairness.get("columns", [])
    )


def deploy_facts(*, deploy: Deploy, now: datetime) -> DeployFacts:
    """The deploy's impact and drift reports as the rules read them (two queries)."""
    impact = ImpactReport.objects.filter(deploy=deploy).first()
    drift = DriftReport.objects.filter(deploy=deploy).first()
    has_drift = drift is not None and drift.computed_at is not None and bool(drift.result)
    cause = (drift.prediction_drift_cause or None) if drift is not None else None
    columns = tuple(_column_fact(c, cause) for c in drift.result.get("columns", [])) if has_drift else ()
    impact_done = impact is not None and impact.computed_at is not None
    times = [r.computed_at for r in (impact, drift) if r is not None and r.computed_at is not None]
    window_end = deploy.deployed_at + timedelta(minutes=deploy.window_minutes)
    return DeployFacts(
        columns=columns,
        has_drift_report=has_drift,
        impact_verdict=impact.verdict if impact_done else None,
        impact_score=impact.score if impact_done else None,
        metrics=tuple(_metric_fact(m) for m in impact.metrics) if impact_done else (),
        fairness=_fairness_facts(drift.result.get("fairness")) if has_drift else (),
        expected_drift=frozenset(deploy.expected_drift or []),
        final=now >= window_end,
        reported_at=max(times) if times else None,
        drift_reported_at=drift.computed_at if has_drift else None,
        impact_reported_at=impact.computed_at if impact_done else None,
    )


def alert_list(
    *,
    project: Project,
    status: str | None = None,
    service: str | None = None,
    environment: str | None = None,
    deploy_id: int | None = None,
    limit: int = 100,
) -> QuerySet[Alert]:
    alerts = Alert.objects.filter(project=project).select_related("deploy", "service", "environment")
    if status == "open":
        alerts = alerts.open()
    elif status:
        alerts = alerts.filter(status=status)
    if service:
        alerts = alerts.filter(service__name=service)
    if environment:
        alerts = alerts.filter(environment__name=environment)
    if deploy_id is not None:
        alerts = alerts.filter(deploy_id=deploy_id)
    return alerts.order_by("-started_at", "-id")[:limit]


def alerts_page(*, project: Project, now: datetime, recent_days: int = 7) -> dict:
    """Open alerts, recently resolved ones, active silences: a constant number of queries."""
    base = Alert.objects.filter(project=project).select_related(
        "deploy", "service", "environment", "acknowledged_by", "resolved_by"
    )
    open_alerts = list(base.open().order_by("-started_at", "-id")[:200])
    silences = list(
        Silence.objects.filter(project=project, ends_at__gt=now).select_related("created_by", "created_by_token")
    )
    muting = [s.as_engine() for s in silences]
    return {
        "open_alerts": open_alerts,
        "silenced_ids": {a.pk for a in open_alerts if any(s.mutes(a.labels(), now) for s in muting)},
        "recent_alerts": list(
            base.filter(status=AlertStatus.RESOLVED, resolved_at__gte=now - timedelta(days=recent_days)).order_by(
                "-resolved_at", "-id"
            )[:100]
        ),
        "silences": silences,
    }


def silence_list(*, project: Project, now: datetime, state: str | None = None, limit: int = 100) -> list[Silence]:
    """The project's silences, newest first; `state` is Alertmanager's pending, active or expired."""
    silences = Silence.objects.filter(project=project).select_related("created_by", "created_by_token")
    if state == "pending":
        silences = silences.filter(starts_at__gt=now)
    elif state == "active":
        silences = silences.filter(starts_at__lte=now, ends_at__gt=now)
    elif state == "expired":
        silences = silences.filter(ends_at__lte=now)
    return list(silences.order_by("-created_at", "-id")[:limit])


def open_alert_counts(*, deploy_ids: Iterable[int]) -> dict[int, int]:
    """deploy id -> number of open alerts, in one query for a page of timeline rows."""
    rows = (
        Alert.objects.open()
        .filter(deploy_id__in=list(deploy_ids))
        .values("deploy_id")
        .annotate(n=Count("id"))
        .values_list("deploy_id", "n")
    )
    return dict(rows)


@dataclass(frozen=True)
class AlertLine:
    """One alert as the deploy page lists it."""

    id: int
    severity: str
    status: str
    title: str
    started_at: datetime
    resolved_reason: str
    is_open: bool


@dataclass(frozen=True)
class DeployAlerts:
    """The deploy page's alerts: the newest 50 of the deploy, and how many of them are open (the header badge)."""

    alerts: list[AlertLine]
    open_count: int


def deploy_alerts_section(*, deploy: Deploy) -> DeployAlerts:
    """One query for the deploy page's alerts section and header badge."""
    alerts = [
        AlertLine(
            id=a.pk,
            severity=a.severity,
            status=a.status,
            title=a.title,
            started_at=a.started_at,
            resolved_reason=a.get_resolved_reason_display() if a.resolved_reason else "",
            is_open=a.is_open,
        )
        for a in Alert.objects.filter(deploy=deploy).order_by("-started_at", "-id")[:50]
    ]
    return DeployAlerts(alerts=alerts, open_count=sum(1 for a in alerts if a.is_open))


def channel_list(*, project: Project) -> list[Channel]:
    """Channels with their last few deliveries and attempts, for the settings page (three queries)."""
    recent = Delivery.objects.order_by("-created_at", "-id").prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
    )
    channels = list(
        Channel.objects.filter(project=project)
        .annotate(failed_deliveries=Count("deliveries", filter=Q(deliveries__status="failed")))
        .prefetch_related(Prefetch("deliveries", queryset=recent[:5], to_attr="recent_deliveries"))
    )
    return channels


def rule_list(*, project: Project) -> list[AlertRule]:
    return list(AlertRule.objects.filter(project=project))


def alert_gauges() -> list[Metric]:
    """Alerts by state and deliveries by channel kind and outcome (registered in AlertsConfig.ready)."""
    alerts = {(row["status"],): row["n"] for row in Alert.objects.values("status").annotate(n=Count("id"))}
    deliveries = {
        (row["channel__kind"], row["status"]): row["n"]
        for row in Delivery.objects.filter(channel__isnull=False)
        .values("channel__kind", "status")
        .annotate(n=Count("id"))
    }
    return [
        gauge_family("deploy_tracker_alerts", "Alerts stored, by state.", {"state": AlertStatus.values}, alerts),
        gauge_family(
            "deploy_tracker_alert_deliveries",
            "Alert notifications (one per channel), by channel kind and outcome.",
            {"kind": ChannelKind.values, "status": DeliveryStatus.values},
            deliveries,
        ),
    ]


@dataclass(frozen=True)
class WritebackRow:
    """The settings page's line for one provider's status write-back (never its token)."""

    provider_label: str
    enabled: bool
    services: int
    api_host: str
    has_token: bool


def status_writeback_section(*, project_id: int) -> list[WritebackRow]:
    """One query: the project's status write-backs for the settings page."""
    return [
        WritebackRow(
            provider_label=human_label(w.provider),
            enabled=w.enabled,
            services=len(w.repositories),
            api_host=url_hint(w.api_url),
            has_token=bool(w.token_encrypted),
        )
        for w in StatusWriteback.objects.filter(project_id=project_id)
    ]


@dataclass(frozen=True)
class TimelineEntry:
    """One state change of an alert, as its page lists it."""

    at: datetime
    what: str
    detail: str = ""


@dataclass(frozen=True)
class AlertDetail:
    """An alert's page: the alert, its deliveries with their attempts, the silences that match it, its history."""

    alert: Alert
    deliveries: list[Delivery]
    silences: list[Silence]
    silenced: bool
    timeline: list[TimelineEntry]
    evidence: list[tuple[str, str]]


# A group's deliveries read for one alert's page (newest first); older ones are left out.
ALERT_DELIVERIES_READ = 200


def alert_detail(*, project: Project, alert_id: int, now: datetime) -> AlertDetail | None:
    """Four queries whatever the number of deliveries and attempts: the alert, its group's recent deliveries
    (channels joined), their attempts, the project's unexpired silences."""
    alert = (
        Alert.objects.filter(project=project, pk=alert_id)
        .select_related("deploy", "service", "environment", "acknowledged_by", "resolved_by", "rule")
        .first()
    )
    if alert is None:
        return None
    recent = (
        Delivery.objects.filter(group_id=alert.group_id)
        .select_related("channel")
        .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number")))
        .order_by("-created_at", "-id")[:ALERT_DELIVERIES_READ]
    )
    # A delivery names the alerts it carried; JSON containment is not portable to SQLite, so filter here.
    deliveries = [d for d in recent if alert.pk in (d.alert_ids or [])]
    labels = alert.labels()
    unexpired = Silence.objects.filter(project=project, ends_at__gt=now).select_related(
        "created_by", "created_by_token"
    )
    silences = [s for s in unexpired if all(m.matches(labels) for m in s.as_engine().matchers)]
    return AlertDetail(
        alert=alert,
        deliveries=deliveries,
        silences=silences,
        silenced=any(s.as_engine().mutes(labels, now) for s in silences),
        timeline=_alert_timeline(alert, deliveries),
        evidence=_evidence(alert.numbers or {}),
    )


def _evidence(numbers: dict) -> list[tuple[str, str]]:
    """The rule's numbers as label and text: nested figures (per column, per metric) flattened one level."""
    rows = []
    for key, value in numbers.items():
        label = key.replace("_", " ")
        if isinstance(value, dict):
            rows += [(f"{label}: {k}", _figure_text(v)) for k, v in value.items()]
        else:
            rows.append((label, _figure_text(value)))
    return rows


def _figure_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_figure_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_figure_text(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


def _alert_timeline(alert: Alert, deliveries: list[Delivery]) -> list[TimelineEntry]:
    """Fired, notified (each delivery's outcome), acknowledged, resolved: oldest first."""
    entries = [TimelineEntry(alert.started_at, "Fired", alert.title)]
    for d in deliveries:
        if d.delivered_at:
            entries.append(TimelineEntry(d.delivered_at, "Notified", f"{d.channel.name} ({d.event_action})"))
        elif d.status == "failed":
            attempts = list(d.attempt_log.all())
            at = attempts[-1].at if attempts else d.created_at
            entries.append(TimelineEntry(at, "Notification failed", f"{d.channel.name}: {d.last_error}"))
    if alert.acknowledged_at:
        by = f"by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        entries.append(TimelineEntry(alert.acknowledged_at, "Acknowledged", by))
    if alert.resolved_at:
        by = f" (by {alert.resolved_by})" if alert.resolved_by else ""
        entries.append(TimelineEntry(alert.resolved_at, "Resolved", alert.get_resolved_reason_display() + by))
    return sorted(entries, key=lambda e: e.at)
