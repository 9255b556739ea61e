"""Metric sources: create, change, delete; record what the worker saw (health); ask for a test query."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from deployments.services import service_get_or_create
from metrics.sources import client, promql
from metrics.sources.models import MAX_TIMEOUT_SECONDS, TENANT_MAX_LENGTH, MetricSource, SourceKind, SourceQuery
from metrics.stats.impact import DEFAULT_ALLOWED_CHANGE, DEFAULT_MIN_SAMPLES, DIRECTIONS, default_direction
from tracker import crypto, outbound
from tracker.enqueue import enqueue
from tracker.errors import FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record

MAX_QUERIES = 100
# Mimir's tenant ID characters; "|" joins tenants for a federated query.
TENANT_PATTERN = re.compile(r"[A-Za-z0-9!\-_.*'()]+(\|[A-Za-z0-9!\-_.*'()]+)*")
TENANT_RULE = (
    f"at most {TENANT_MAX_LENGTH} characters: letters, digits and ! - _ . * ' ( ); tenants joined by | for a "
    "federated query"
)
MAX_STEP_SECONDS = 3600


class SourceError(FieldsInvalid):
    """A metric source setting is invalid; `fields` maps each bad field to its messages."""

    summary = "the metric source settings are not valid"


def outbound_policy(source: MetricSource | None = None) -> outbound.OutboundPolicy:
    policy = outbound.OutboundPolicy.from_settings(settings)
    if source is None:
        return policy
    return outbound.OutboundPolicy(policy.allow_http, policy.allowed_networks, float(source.timeout_seconds))


def _check_url(url: str) -> None:
    try:
        outbound.check_url(url, policy=outbound_policy())
    except outbound.TransportError as exc:
        raise SourceError({"url": [exc.message]}) from None


def _credentials(bearer_token: str | None, basic_auth: dict | None) -> str | None:
    """The encrypted credentials to store: None keeps the stored ones, "" clears them."""
    if bearer_token is not None and basic_auth is not None:
        raise SourceError({"bearer_token": ["give a bearer token or basic auth, not both"]})
    if bearer_token is not None:
        return crypto.encrypt(json.dumps({"bearer_token": bearer_token})) if bearer_token else ""
    if basic_auth is not None:
        if not basic_auth:
            return ""
        username, password = basic_auth.get("username"), basic_auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username or ":" in username:
            raise SourceError({"basic_auth": ["give a username (without ':') and a password"]})
        return crypto.encrypt(json.dumps({"basic_auth": {"username": username, "password": password}}))
    return None


def _query_rows(project: Project, queries: Sequence[dict[str, Any]]) -> list[SourceQuery]:
    if len(queries) > MAX_QUERIES:
        raise SourceError({"queries": [f"at most {MAX_QUERIES} queries per source"]})
    rows, seen, errors = [], set(), {}
    for index, item in enumerate(queries):
        problems = _query_problems(item)
        key = (item.get("service"), item.get("name"))
        if key in seen:
            problems.append(f"service {key[0]} already has a query named {key[1]}")
        seen.add(key)
        if problems:
            errors[f"queries.{index}"] = problems
            continue
        rows.append(
            SourceQuery(
                service=service_get_or_create(project=project, name=item["service"]),
                name=item["name"],
                query=item["query"],
                step_seconds=item.get("step_seconds") or 60,
                direction=item.get("direction") or default_direction(item["name"]),
                critical=bool(item.get("critical", False)),
                allowed_change=item.get("allowed_change", DEFAULT_ALLOWED_CHANGE),
                min_samples=item.get("min_samples") or DEFAULT_MIN_SAMPLES,
                position=index,
            )
        )
    if errors:
        raise SourceError(errors)
    return rows


def _query_problems(item: dict[str, Any]) -> list[str]:
    problems = []
    try:
        promql.validate(item.get("query", ""))
    except promql.TemplateError as exc:
        problems.append(f"query: {exc}")
    if not 1 <= int(item.get("step_seconds") or 60) <= MAX_STEP_SECONDS:
        problems.append(f"step_seconds: 1 to {MAX_STEP_SECONDS}")
    if item.get("direction") not in (None, *DIRECTIONS):
        problems.append(f"direction: one of {', '.join(DIRECTIONS)}")
    if not 0 <= float(item.get("allowed_change", DEFAULT_ALLOWED_CHANGE)) <= 100:
        problems.append("allowed_change: 0 to 100")
    return problems


def _apply(
    source: MetricSource, *, url: str | None, timeout_seconds: int | None, credentials: str | None, tenant: str | None
) -> None:
    if url is not None:
        _check_url(url)
        source.url = url
    if timeout_seconds is not None:
        if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise SourceError({"timeout_seconds": [f"1 to {MAX_TIMEOUT_SECONDS} seconds"]})
        source.timeout_seconds = timeout_seconds
    if credentials is not None:
        source.credentials_encrypted = credentials
    if tenant is not None:
        if tenant and not TENANT_PATTERN.fullmatch(tenant):
            raise SourceError({"tenant": [TENANT_RULE]})
        source.tenant = tenant


@transaction.atomic
def source_create(
    *,
    project: Project,
    name: str,
    url: str,
    kind: str = SourceKind.PROMETHEUS,
    bearer_token: str | None = None,
    basic_auth: dict | None = None,
    timeout_seconds: int | None = None,
    tenant: str | None = None,
    queries: Sequence[dict[str, Any]] = (),
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> MetricSource:
    if kind not in SourceKind.values:
        raise SourceError({"kind": [f"one of {', '.join(SourceKind.values)}"]})
    if MetricSource.objects.filter(project=project, name=name).exists():
        raise SourceError({"name": ["a metric source with this name exists"]})
    source = MetricSource(project=project, name=name, kind=kind)
    credentials = _credentials(bearer_token, basic_auth)
    _apply(source, url=url, timeout_seconds=timeout_seconds, credentials=credentials, tenant=tenant)
    rows = _query_rows(project, queries)
    source.save()
    for row in rows:
        row.source = source
    SourceQuery.objects.bulk_create(rows)
    audit_record(
        project=project, action="metric_source.created", user=user, token=token, target=source,
        details={"name": name, "kind": kind, "queries": len(rows)},
    )  # fmt: skip
    return source


@transaction.atomic
def source_update(
    *,
    source: MetricSource,
    name: str | None = None,
    url: str | None = None,
    bearer_token: str | None = None,
    basic_auth: dict | None = None,
    timeout_seconds: int | None = None,
    tenant: str | None = None,
    queries: Sequence[dict[str, Any]] | None = None,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> MetricSource:
    """Change what is given; `queries`, when given, replaces the whole list."""
    if name is not None and name != source.name:
        if MetricSource.objects.filter(project_id=source.project_id, name=name).exclude(pk=source.pk).exists():
            raise SourceError({"name": ["a metric source with this name exists"]})
        source.name = name
    credentials = _credentials(bearer_token, basic_auth)
    _apply(source, url=url, timeout_seconds=timeout_seconds, credentials=credentials, tenant=tenant)
    if queries is not None:
        rows = _query_rows(source.project, queries)
        source.queries.all().delete()
        for row in rows:
            row.source = source
        SourceQuery.objects.bulk_create(rows)
    source.save()
    given = {"name": name, "url": url, "credentials": bearer_token if bearer_token is not None else basic_auth,
             "timeout_seconds": timeout_seconds, "tenant": tenant, "queries": queries}  # fmt: skip
    audit_record(
        project=source.project, action="metric_source.updated", user=user, token=token, target=source,
        details={"changed": [key for key, value in given.items() if value is not None]},
    )  # fmt: skip
    return source


@transaction.atomic
def source_delete(*, source: MetricSource, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> None:
    audit_record(
        project=source.project, action="metric_source.deleted", user=user, token=token, target=source,
        details={"name": source.name},
    )  # fmt: skip
    source.delete()


def source_test_request(
    *, source: MetricSource, user: AbstractBaseUser | None = None, token: ApiToken | None = None
) -> MetricSource:
    """Ask the worker to run the source's queries over the last hour; the answer lands in `test_result`."""
    from metrics.sources.tasks import source_test

    with transaction.atomic():
        now = timezone.now()
        MetricSource.objects.filter(pk=source.pk).update(test_requested_at=now, test_result=None)
        source.test_requested_at, source.test_result = now, None
        audit_record(project=source.project, action="metric_source.tested", user=user, token=token, target=source)
        enqueue(source_test, source.pk, now.isoformat())
    return source


def source_health_record(*, source_id: int, error: str | None, at: datetime | None = None) -> None:
    """What the latest query of the source did (one UPDATE, outside any report's transaction)."""
    at = at or timezone.now()
    if error is None:
        MetricSource.objects.filter(pk=source_id).update(last_success_at=at)
    else:
        MetricSource.objects.filter(pk=source_id).update(last_error_at=at, last_error=error[:500])


def request_headers(source: MetricSource) -> dict[str, str]:
    """The Authorization header from the stored credentials (UndecryptableSecret when no key reads them), and the
    tenant header of a multi-tenant store."""
    headers = {"X-Scope-OrgID": source.tenant} if source.tenant else {}
    if not source.credentials_encrypted:
        return headers
    stored = json.loads(crypto.decrypt(source.credentials_encrypted))
    if "bearer_token" in stored:
        return {**headers, "Authorization": f"Bearer {stored['bearer_token']}"}
    pair = f"{stored['basic_auth']['username']}:{stored['basic_auth']['password']}".encode()
    return {**headers, "Authorization": "Basic " + base64.b64encode(pair).decode()}


def fetcher(source: MetricSource) -> client.Fetch:
    """The HTTP call for this source: the SSRF guard and outbound settings, its own timeout as the deadline."""
    policy = outbound_policy(source)

    def fetch(url: str, form: dict[str, str], headers: dict[str, str]) -> outbound.Fetched:
        return outbound.fetch(url, policy=policy, method="POST", form=form, headers=headers)

    return fetch
