"""Metric sources: a project's Prometheus-compatible store and, per service, the queries the judge reads."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from metrics.stats.impact import DEFAULT_ALLOWED_CHANGE, DEFAULT_MIN_SAMPLES, DIRECTIONS

MAX_TIMEOUT_SECONDS = 30
TENANT_MAX_LENGTH = 150  # a Mimir tenant ID's own limit
DEFAULT_TIMEOUT_SECONDS = 10


class SourceKind(models.TextChoices):
    PROMETHEUS = "prometheus", "Prometheus (or Thanos, Mimir, VictoriaMetrics)"


class MetricSource(models.Model):
    """One store the judge queries. Credentials are write-only and encrypted; health is what the worker saw."""

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="metric_sources")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.PROMETHEUS)
    url = models.CharField(max_length=2048)
    # JSON {"bearer_token": …} or {"basic_auth": {"username", "password"}}, encrypted (tracker.crypto); "" if none.
    credentials_encrypted = models.TextField(blank=True)
    # Mimir / Cortex multi-tenancy: sent as X-Scope-OrgID (tenant federation: "a|b"); "" sends no header.
    tenant = models.CharField(max_length=TENANT_MAX_LENGTH, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=DEFAULT_TIMEOUT_SECONDS, validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_SECONDS)]
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The "test query" button: asked for at test_requested_at, answered in test_result by the worker.
    test_requested_at = models.DateTimeField(null=True, blank=True)
    test_result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="metric_source_unique_name"),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=1, timeout_seconds__lte=MAX_TIMEOUT_SECONDS),
                name="metric_source_timeout_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def healthy(self) -> bool | None:
        """None until the worker has queried it; then whether the latest query succeeded."""
        if self.last_success_at is None and self.last_error_at is None:
            return None
        return self.last_error_at is None or (
            self.last_success_at is not None and self.last_success_at > self.last_error_at
        )


class SourceQuery(models.Model):
    """One queried metric of one service: PromQL with placeholders, judged with the pushed metrics' settings."""

    source = models.ForeignKey(MetricSource, on_delete=models.CASCADE, related_name="queries")
    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    query = models.TextField()
    step_seconds = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    direction = models.CharField(max_length=20, choices=[(d, d) for d in DIRECTIONS])
    critical = models.BooleanField(default=False)
    allowed_change = models.FloatField(default=DEFAULT_ALLOWED_CHANGE, validators=[MinValueValidator(0.0)])
    min_samples = models.PositiveIntegerField(default=DEFAULT_MIN_SAMPLES, validators=[MinValueValidator(3)])
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "source queries"
        ordering = ["source_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["source", "service", "name"], name="source_query_unique_name"),
            models.CheckConstraint(condition=models.Q(step_seconds__gte=1), name="source_query_step_positive"),
            models.CheckConstraint(condition=models.Q(direction__in=DIRECTIONS), name="source_query_direction"),
            models.CheckConstraint(condition=models.Q(allowed_change__gte=0), name="source_query_allowed_change"),
        ]

    def __str__(self) -> str:
        return f"{self.name} of service {self.service_id} from source {self.source_id}"
