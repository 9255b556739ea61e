from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from alerts import engine, rules
from deployments.models import Deploy, Environment, Service
from tracker.models import ApiToken, Project


class RuleKind(models.TextChoices):
    DRIFT_SHARE = rules.DRIFT_SHARE, "Dataset drift share"
    COLUMN_DRIFT = rules.COLUMN_DRIFT, "A named column drifts"
    PREDICTION_DRIFT = rules.PREDICTION_DRIFT, "Prediction drift"
    IMPACT_DEGRADED = rules.IMPACT_DEGRADED, "Impact verdict degraded"
    CRITICAL_METRIC = rules.CRITICAL_METRIC, "A critical metric fails"
    UNFAIR = rules.UNFAIR, "Unfair across a sensitive column's groups"


class Severity(models.TextChoices):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class AlertRule(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    key = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    threshold = models.FloatField(null=True, blank=True)
    column = models.CharField(max_length=200, blank=True)
    # Names of services and environments the rule is limited to; empty means all.
    services = models.JSONField(default=list, blank=True)
    environments = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="alertrule_unique_key"),
            models.CheckConstraint(condition=Q(kind__in=RuleKind.values), name="alertrule_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="alertrule_severity_valid"),
            models.CheckConstraint(
                condition=Q(threshold__isnull=True) | Q(threshold__gte=0, threshold__lte=1),
                name="alertrule_threshold_share",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind})"

    def spec(self) -> rules.RuleSpec:
        return rules.RuleSpec(
            key=self.key,
            kind=self.kind,
            severity=self.severity,
            threshold=self.threshold,
            column=self.column,
            services=tuple(self.services),
            environments=tuple(self.environments),
        )


class AlertGroup(models.Model):
    """One notification group per service and environment, with Alertmanager's timers' state."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_groups")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    # Also the PagerDuty dedup_key, so acknowledge and resolve reach the incident a trigger opened.
    key = models.CharField(max_length=64, unique=True)
    next_flush_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_flush_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    notified_firing = models.JSONField(default=list, blank=True)
    notified_acknowledged = models.JSONField(default=list, blank=True)
    flush_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "service", "environment"], name="alertgroup_unique_stream")
        ]

    def __str__(self) -> str:
        return f"{self.service_id}/{self.environment_id} ({self.key})"

    def state(self) -> engine.GroupState:
        return engine.GroupState(
            next_flush_at=self.next_flush_at,
            last_flush_at=self.last_flush_at,
            last_notified_at=self.last_notified_at,
            notified_firing=frozenset(self.notified_firing),
            notified_acknowledged=frozenset(self.notified_acknowledged),
        )

    def set_state(self, state: engine.GroupState) -> None:
        self.next_flush_at = state.next_flush_at
        self.last_flush_at = state.last_flush_at
        self.last_notified_at = state.last_notified_at
        self.notified_firing = sorted(state.notified_firing)
        self.notified_acknowledged = sorted(state.notified_acknowledged)


class AlertStatus(models.TextChoices):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ResolvedReason(models.TextChoices):
    CLEAN = "clean", "later reports were clean"
    ROLLED_BACK = "rolled_back", "the deploy was rolled back"
    SUPERSEDED = "superseded", "a later deploy replaced it"
    MANUAL = "manual", "resolved by a person"
    RULE_REMOVED = "rule_removed", "the rule was disabled or deleted"


class AlertQuerySet(models.QuerySet):
    def open(self) -> AlertQuerySet:
        return self.exclude(status=AlertStatus.RESOLVED)


class Alert(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    # Copied from the rule so the alert still explains itself after the rule is changed or deleted.
    rule_key = models.CharField(max_length=50)
    kind = models.CharField(max_length=30, choices=RuleKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="alerts")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    title = models.CharField(max_length=1000)
    numbers = models.JSONField(default=dict, blank=True)
    # Consecutive clean reports since the last breach (hysteresis: resolve after a run of them).
    clean_streak = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    last_evaluated_at = models.DateTimeField()
    # computed_at of the newest report this alert was judged on: re-judging the same report twice
    # (a duplicate task) must not count as a second clean report.
    last_report_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_reason = models.CharField(max_length=20, choices=ResolvedReason.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One open alert per fingerprint: the database settles two workers evaluating at once.
            models.UniqueConstraint(
                fields=["fingerprint"], condition=~Q(status="resolved"), name="alert_one_open_per_fingerprint"
            ),
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="alert_status_valid"),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False) | ~Q(status="resolved"),
                name="alert_resolved_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-started_at"], name="alert_project_status"),
            models.Index(fields=["deploy", "status"], name="alert_deploy_status"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_key} on deploy {self.deploy_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != AlertStatus.RESOLVED

    def labels(self) -> dict[str, str]:
        """What silences match on (Alertmanager-style label names)."""
        return {
            "service": self.service.name,
            "environment": self.environment.name,
            "rule": self.rule_key,
            "kind": self.kind,
            "severity": self.severity,
            "deploy": str(self.deploy_id),
            "version": self.deploy.version,
        }


class Silence(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="silences")
    # [{"name": "service", "op": "=", "value": "fraud-scorer"}, ...]; all must match.
    matchers = models.JSONField(default=list)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=500, blank=True)
    # A person on the page, or a token through the API (Alertmanager's createdBy is the token's name).
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_by_token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after")
        ]

    def __str__(self) -> str:
        return ", ".join(f"{m['name']}{m['op']}{m['value']}" for m in self.matchers)

    def state(self, now: datetime) -> str:
        return engine.silence_state(self.starts_at, self.ends_at, now)

    @property
    def creator(self) -> str:
        if self.created_by is not None:
            return self.created_by.get_username()
        return self.created_by_token.name if self.created_by_token is not None else ""

    def as_engine(self) -> engine.Silence:
        matchers = tuple(engine.Matcher(m["name"], m["value"], m["op"]) for m in self.matchers)
        return engine.Silence(matchers, self.starts_at, self.ends_at)


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Generic webhook (signed)"
    SLACK = "slack", "Slack incoming webhook"
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
    EMAIL = "email", "E-mail"


class Channel(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    # Webhook and Slack URLs carry credentials, so they are encrypted; the hint is what pages show.
    url_encrypted = models.TextField(blank=True)
    url_hint = models.CharField(max_length=300, blank=True)
    # The webhook's whsec_ signing secret or PagerDuty's routing key.
    secret_encrypted = models.TextField(blank=True)
    email_to = models.JSONField(default=list, blank=True)
    # PagerDuty only: also send each production deploy as a change event (opt-in).
    change_events = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="channel_unique_name"),
            models.CheckConstraint(condition=Q(kind__in=ChannelKind.values), name="channel_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class StatusProvider(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"


class StatusWriteback(models.Model):
    """Verdicts written back as GitHub or GitLab statuses: one per project and provider, opt-in."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="status_writebacks")
    provider = models.CharField(max_length=10, choices=StatusProvider.choices)
    enabled = models.BooleanField(default=True)
    api_url = models.URLField(max_length=500)
    # Write-only: a GitHub token with statuses/deployments write, or a GitLab token with the api scope.
    token_encrypted = models.TextField()
    # Service name -> "owner/repo" (GitHub) or the project's path or numeric ID (GitLab).
    repositories = models.JSONField(default=dict, blank=True)
    context = models.CharField(max_length=100, default="deploy-tracker")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        constraints = [
            models.UniqueConstraint(fields=["project", "provider"], name="statuswriteback_unique_provider"),
            models.CheckConstraint(condition=Q(provider__in=StatusProvider.values), name="statuswriteback_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} status write-back of {self.project_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


def _message_id() -> str:
    return "msg_" + uuid.uuid4().hex


class Delivery(models.Model):
    """An outbox row: one notification for one channel, committed with the alert change."""

    # The Standard Webhooks `webhook-id`: the same on every retry, so receivers can dedupe.
    message_id = models.CharField(max_length=40, unique=True, default=_message_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # An alert notification goes to a channel; a verdict status to a status write-back (exactly one is set).
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    writeback = models.ForeignKey(
        StatusWriteback, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The deploy a status or change event is about (what "did the verdict change" compares against).
    deploy = models.ForeignKey(Deploy, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # A status write-back's API path under the provider's API URL (the body is `payload`).
    request_path = models.CharField(max_length=1000, blank=True)
    group = models.ForeignKey(AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    reason = models.CharField(max_length=20)
    event_action = models.CharField(max_length=20)
    alert_ids = models.JSONField(default=list, blank=True)
    # The body as built when the notification was decided, so retries send the same content.
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"),
            models.CheckConstraint(
                condition=Q(channel__isnull=False, writeback__isnull=True)
                | Q(channel__isnull=True, writeback__isnull=False),
                name="delivery_one_target",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.channel_id or self.writeback_id} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    address = models.CharField(max_length=64, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="deliveryattempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"
