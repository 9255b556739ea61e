"""Silences: Alertmanager matchers (RE2 regexes) with a time range, from the alerts page or the API.

Both paths go through `silence_create`, so the page and the API refuse the same things: a matcher
Alertmanager would refuse, a silence that would mute everything, a range that is not ahead or is too long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
MAX_MATCHERS = 20
MAX_COMMENT = 500


class SilenceError(FieldsInvalid):
    summary = "the silence is not valid"


def _matcher(given: str | Mapping[str, str]) -> engine.Matcher:
    """`service=~fraud.*` as typed on the page, or `{"name", "value", "op"}` from the API."""
    if isinstance(given, str):
        return engine.Matcher.parse(given)
    return engine.Matcher(name=given["name"], value=given["value"], op=given["op"])


def _matchers(given: Sequence[str | Mapping[str, str]]) -> list[engine.Matcher]:
    if not given:
        raise SilenceError({"matchers": ["give at least one matcher, e.g. service=fraud-scorer"]})
    if len(given) > MAX_MATCHERS:
        raise SilenceError({"matchers": [f"a silence has at most {MAX_MATCHERS} matchers"]})
    parsed, errors = [], []
    for position, item in enumerate(given, start=1):
        try:
            parsed.append(_matcher(item))
        except ValueError as exc:
            errors.append(f"matcher {position}: {exc}")
    if errors:
        raise SilenceError({"matchers": errors})
    if all(m.matches_empty() for m in parsed):
        # Alertmanager's rule: such a silence would mute every alert of the project.
        raise SilenceError({"matchers": ["at least one matcher must not match the empty string"]})
    return parsed


def _comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT:
        raise SilenceError({"comment": [f"at most {MAX_COMMENT} characters"]})
    try:
        comment.encode()
    except UnicodeEncodeError:
        raise SilenceError({"comment": ["must be valid text (it holds a lone surrogate)"]}) from None
    return comment


@transaction.atomic
def silence_create(
    *,
    project: Project,
    matchers: Sequence[str | Mapping[str, str]],
    ends_at: datetime,
    starts_at: datetime | None = None,
    comment: str = "",
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> Silence:
    now = timezone.now()
    # As in Alertmanager, a silence that would start in the past starts now.
    starts_at = max(starts_at or now, now)
    parsed = _matchers(matchers)
    if ends_at <= starts_at:
        raise SilenceError({"ends_at": ["must be in the future and after the start"]})
    if ends_at - starts_at > MAX_SILENCE:
        raise SilenceError({"ends_at": ["a silence lasts at most 30 days"]})
    silence = Silence.objects.create(
        project=project,
        matchers=[{"name": m.name, "op": m.op, "value": m.value} for m in parsed],
        starts_at=starts_at,
        ends_at=ends_at,
        comment=_comment(comment),
        created_by=user if user is not None and user.is_authenticated else None,
        created_by_token=token,
    )
    audit_record(
        project=project,
        action="silence.created",
        user=user,
        token=token,
        target=silence,
        details={
            "matchers": [str(m) for m in parsed],
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return silence


@transaction.atomic
def silence_expire(*, silence: Silence, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> Silence:
    """End a silence now (a pending one never starts); the groups it muted hear about their alerts on their
    next flush. Ending an ended silence changes nothing and records nothing."""
    now = timezone.now()
    if silence.ends_at <= now:
        return silence
    silence.ends_at = now
    silence.starts_at = min(silence.starts_at, now - timedelta(microseconds=1))
    silence.save(update_fields=["starts_at", "ends_at", "updated_at"])
    for group in AlertGroup.objects.filter(
        project=silence.project, alerts__status__in=["firing", "acknowledged"]
    ).distinct():
        alert_group_touch(group=group, now=now)
    audit_record(project=silence.project, action="silence.expired", user=user, token=token, target=silence)
    return silence
