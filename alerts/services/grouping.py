"""Notification groups: when a group flushes, decide what to tell and write one outbox row per channel."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alerts import engine, payloads
from alerts.models import Alert, AlertGroup, AlertStatus, Channel, Delivery, Silence
from alerts.services.channels import channel_payload
from deployments.models import Deploy
from metrics.impact.selectors import report_of

logger = logging.getLogger(__name__)

# A flush claim older than this belongs to a dead worker.
FLUSH_LEASE = timedelta(minutes=2)


def timing() -> engine.Timing:
    return engine.Timing(
        group_wait=timedelta(seconds=settings.ALERT_GROUP_WAIT_SECONDS),
        group_interval=timedelta(seconds=settings.ALERT_GROUP_INTERVAL_SECONDS),
        repeat_interval=timedelta(seconds=settings.ALERT_REPEAT_INTERVAL_SECONDS),
    )


def alert_group_touch(*, group: AlertGroup, now: datetime, urgent: bool = False) -> AlertGroup:
    """An alert of the group opened, changed state or closed: schedule the group's next flush."""
    from alerts.tasks import enqueue_at, group_flush  # tasks import services: imported at call time

    locked = AlertGroup.objects.select_for_update().get(pk=group.pk)
    state = engine.schedule(locked.state(), now, timing(), urgent=urgent)
    if state.next_flush_at != locked.next_flush_at:
        locked.next_flush_at = state.next_flush_at
        locked.save(update_fields=["next_flush_at"])
    enqueue_at(group_flush, locked.pk, eta=locked.next_flush_at)
    return locked


def _silences_in_force(group: AlertGroup, now: datetime) -> list[engine.Silence]:
    """A silence stored before matchers were RE2 and length-limited may no longer load: it mutes nothing,
    because paging on-call is a safer failure than muting by a pattern the engine refuses to run."""
    loaded = []
    for silence in Silence.objects.filter(project=group.project, ends_at__gt=now):
        try:
            loaded.append(silence.as_engine())
        except ValueError as exc:
            logger.warning("silence %s of project %s mutes nothing: %s", silence.pk, group.project.slug, exc)
    return loaded


def alert_group_claim(*, group_id: int, now: datetime) -> bool:
    """Claim a due group by a conditional UPDATE so two workers never flush it together."""
    claimed = (
        AlertGroup.objects.filter(pk=group_id, next_flush_at__lte=now)
        .filter(Q(flush_claimed_at=None) | Q(flush_claimed_at__lt=now - FLUSH_LEASE))
        .update(flush_claimed_at=now)
    )
    return claimed == 1


@transaction.atomic
def alert_group_flush(*, group_id: int, now: datetime | None = None) -> list[Delivery]:
    """Flush a claimed group: decide with the engine, store its state, write the deliveries."""
    now = now or timezone.now()
    group = AlertGroup.objects.select_for_update().select_related("project", "service", "environment").get(pk=group_id)
    group.flush_claimed_at = None
    if group.next_flush_at is None or group.next_flush_at > now:
        group.save(update_fields=["flush_claimed_at"])
        return []
    alerts = _group_alerts(group)
    silences = _silences_in_force(group, now)
    views = [engine.AlertView(a.fingerprint, engine.AlertStatus(a.status), a.labels()) for a in alerts]
    notification, state = engine.flush(group.state(), views, silences, now, timing())
    group.set_state(state)
    group.save()
    if notification is None:
        return []
    message = build_message(group, notification, alerts, now)
    alert_ids = [a.pk for a in alerts if a.fingerprint in notification.firing + notification.resolved]
    return deliveries_create(group=group, message=message, alert_ids=alert_ids, now=now)


def _group_alerts(group: AlertGroup) -> list[Alert]:
    """Open alerts plus, per fingerprint the group told channels about, its latest resolved alert."""
    rows = (
        Alert.objects.filter(group=group)
        .filter(Q(status__in=[AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED]) | Q(fingerprint__in=group.notified_firing))
        .select_related("deploy__impact_report", "service", "environment", "project")
        .order_by("fingerprint", "-started_at", "-id")
    )
    latest: dict[str, Alert] = {}
    for alert in rows:
        current = latest.get(alert.fingerprint)
        if current is None or (current.status == AlertStatus.RESOLVED and alert.is_open):
            latest[alert.fingerprint] = alert
    return list(latest.values())


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


def alerts_page_url(project_slug: str) -> str:
    return _absolute(reverse("alert_list", args=[project_slug]))


def deploy_info(deploy: Deploy) -> payloads.DeployInfo:
    return payloads.DeployInfo(
        id=str(deploy.pk),
        version=deploy.version,
        url=_absolute(deploy.get_absolute_url()),
        model_name=deploy.model_name,
        model_version=deploy.model_version,
        author=deploy.author,
        commit_sha=deploy.commit_sha,
        went_out_at=deploy.deployed_at,
        verdict=_verdict(deploy),
    )


def _verdict(deploy: Deploy) -> str:
    """The gate's word for the deploy (the impact report is loaded with the alerts: no query of its own)."""
    if deploy.is_rollback:
        return "rollback"
    report = report_of(deploy)
    return report.verdict if report is not None else "pending"


def alert_info(alert: Alert, status: str | None = None) -> payloads.AlertInfo:
    return payloads.AlertInfo(
        id=str(alert.pk),
        fingerprint=alert.fingerprint,
        rule=alert.rule_key,
        kind=alert.kind,
        severity=alert.severity,
        status=status or alert.status,
        title=alert.title,
        url=f"{alerts_page_url(alert.project.slug)}#alert-{alert.pk}",
        started_at=alert.started_at,
        deploy=deploy_info(alert.deploy),
        numbers=alert.numbers,
    )


def build_message(
    group: AlertGroup, notification: engine.Notification, alerts: list[Alert], now: datetime
) -> payloads.Message:
    by_fp = {a.fingerprint: a for a in alerts}
    return payloads.Message(
        project=group.project.slug,
        service=group.service.name,
        environment=group.environment.name,
        group_key=group.key,
        reason=notification.reason,
        event_action=notification.event_action,
        alerts_url=alerts_page_url(group.project.slug),
        sent_at=now,
        alerts=tuple(alert_info(by_fp[fp]) for fp in notification.firing),
        resolved=tuple(alert_info(by_fp[fp], status="resolved") for fp in notification.resolved),
    )


def deliveries_create(
    *,
    group: AlertGroup | None,
    message: payloads.Message,
    alert_ids: list[int],
    now: datetime,
    channels: Iterable[Channel] | None = None,
) -> list[Delivery]:
    """One outbox row per enabled channel, committed with the decision; sent after commit."""
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    if channels is None:
        project = group.project if group is not None else None
        channels = Channel.objects.filter(project=project, enabled=True)
    created = []
    for channel in channels:
        delivery = Delivery.objects.create(
            project_id=channel.project_id,
            channel=channel,
            group=group,
            reason=message.reason,
            event_action=message.event_action,
            alert_ids=alert_ids,
            payload=channel_payload(channel, message),
            next_attempt_at=now,
        )
        enqueue_at(delivery_send, delivery.pk, eta=None)
        created.append(delivery)
    return created
