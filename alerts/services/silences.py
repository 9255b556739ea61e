"""Silences: Alertmanager matchers with a time range, created from the alerts page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from alerts import engine
from alerts.models import AlertGroup, Silence
from alerts.services.grouping import alert_group_touch
from tracker.errors import FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record

MAX_SILENCE = timedelta(days=30)


class SilenceError(FieldsInvalid):
    summary = "the silence is not valid"


def _parse(matchers: list[str]) -> list[engine.Matcher]:
    parsed = []
    for text in matchers:
        try:
            parsed.append(engine.Matcher.parse(text))
        except ValueError as exc:
            raise SilenceError({"matchers": [str(exc)]}) from None
    if not parsed:
        raise SilenceError({"matchers": ["give at least one matcher, e.g. service=fraud-scorer"]})
    return parsed


@transaction.atomic
def silence_create(
    *,
    project: Project,
    matchers: list[str],
    ends_at: datetime,
    starts_at: datetime | None = None,
    comment: str = "",
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> Silence:
    now = timezone.now()
    starts_at = starts_at or now
    parsed = _parse(matchers)
    if ends_at <= starts_at or ends_at <= now:
        raise SilenceError({"ends_at": ["must be in the future and after the start"]})
    if ends_at - starts_at > MAX_SILENCE:
        raise SilenceError({"ends_at": ["a silence lasts at most 30 days"]})
    silence = Silence.objects.create(
        project=project,
        matchers=[{"name": m.name, "op": m.op, "value": m.value} for m in parsed],
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment[:500],
        created_by=user if user is not None and user.is_authenticated else None,
    )
    audit_record(
        project=project,
        action="silence.created",
        user=user,
        token=token,
        target=silence,
        details={"matchers": matchers, "ends_at": ends_at.isoformat()},
    )
    return silence


@transaction.atomic
def silence_expire(*, silence: Silence, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> Silence:
    """End a silence now; the groups it muted hear about their alerts on their next flush."""
    now = timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
        silence.save(update_fields=["ends_at"])
        for group in AlertGroup.objects.filter(
            project=silence.project, alerts__status__in=["firing", "acknowledged"]
        ).distinct():
            alert_group_touch(group=group, now=now)
    audit_record(project=silence.project, action="silence.expired", user=user, token=token, target=silence)
    return silence
