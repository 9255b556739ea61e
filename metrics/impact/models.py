"""Metric points (stored by the minute, in chunks), their rollups, metric settings per service, impact reports."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from deployments.models import DeployReport
from metrics.stats.impact import (
    DEFAULT_ALLOWED_CHANGE,
    DEFAULT_MIN_SAMPLES,
    DIRECTIONS,
    PENDING,
    REPORT_MODES,
    SEQUENTIAL,
    VERDICTS,
)


class MetricChunk(models.Model):
    """The points of one series (deploy, name, label set) in one minute, as posted in one batch: the raw points.

    One row per series and minute of a batch, not per point: the judge's B-tree (deploy, name, minute) takes one
    entry per chunk, which was most of PostgreSQL's time per point when every point was a row (session 8 in
    docs/benchmarks.md). Every point stays exactly as posted: `stamps` holds its time (big-endian int64
    microseconds since the Unix epoch, ascending) and `values` its value (big-endian float64, same order);
    `metrics.impact.chunks` writes and reads them. `minute` is the start of the UTC minute every point of the chunk
    falls in: window reads, partitions (by day, on PostgreSQL; migration 0010) and retention use it; the windows
    are whole minutes, so a window reads whole chunks. Several batches may hold chunks of the same series and
    minute. No foreign-key constraints in the database (the ingest resolves every id inside the project in the
    same transaction); nothing reads a chunk by id, and on PostgreSQL `id` has no index.
    """

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(
        "tracker.Project", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    service = models.ForeignKey(
        "deployments.Service", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    environment = models.ForeignKey(
        "deployments.Environment", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    deploy = models.ForeignKey(
        "deployments.Deploy",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    name = models.CharField(max_length=200)
    labels = models.JSONField(null=True, blank=True)
    minute = models.DateTimeField()
    count = models.PositiveIntegerField()
    stamps = models.BinaryField()
    values = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["deploy", "name", "minute"], name="chunk_deploy_name_minute")]

    def __str__(self) -> str:
        return f"{self.name} {self.minute:%Y-%m-%d %H:%M} n={self.count}"


class MetricBatch(models.Model):
    """A posted batch remembered by its batch_id, so that a retried batch stores nothing twice."""

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="+")
    batch_id = models.CharField(max_length=200)
    points = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "metric batches"
        constraints = [models.UniqueConstraint(fields=["project", "batch_id"], name="metric_batch_unique_id")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} ({self.points} points)"


class MetricRollup(models.Model):
    """Per-minute aggregate of one series and deploy: charts and long windows read these, not raw points."""

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="+", db_index=False)
    environment = models.ForeignKey(
        "deployments.Environment", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(max_length=200)
    minute = models.DateTimeField()
    # The deploy the points were attributed to; 0 when none (a plain column so the upsert key has no NULL).
    deploy_key = models.BigIntegerField(default=0)
    count = models.BigIntegerField()
    total = models.FloatField()
    total_squares = models.FloatField()
    min_value = models.FloatField()
    max_value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "environment", "name", "minute", "deploy_key"], name="rollup_unique_minute"
            )
        ]
        indexes = [models.Index(fields=["deploy_key", "name", "minute"], name="rollup_deploy_name_minute")]

    def __str__(self) -> str:
        return f"{self.name} {self.minute:%Y-%m-%d %H:%M} n={self.count}"

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class MetricName(models.Model):
    """A metric name posted for a service, while it has raw points: at most METRIC_MAX_NAMES_PER_SERVICE.

    With MetricLabelSet, the register an ingest token cannot grow without bound (metrics.impact.cardinality).
    """

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    # Refreshed at most daily; the retention sweep forgets names unseen for METRIC_RETENTION_DAYS.
    last_seen = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="metric_name_unique")]

    def __str__(self) -> str:
        return f"{self.service_id}/{self.name}"


class MetricLabelSet(models.Model):
    """A distinct label set of one metric name: at most METRIC_MAX_LABEL_SETS_PER_METRIC per name."""

    metric = models.ForeignKey(MetricName, on_delete=models.CASCADE, related_name="label_sets")
    # blake2b-128 of the label set's JSON with sorted keys; "" for points without labels.
    key = models.CharField(max_length=32)
    last_seen = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["metric", "key"], name="metric_label_set_unique")]

    def __str__(self) -> str:
        return f"{self.metric_id}/{self.key or '-'}"


class MetricSetting(models.Model):
    """How one metric of one service is judged; metrics without a row get defaults from their name."""

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="metric_settings")
    name = models.CharField(max_length=200)
    direction = models.CharField(max_length=20, choices=[(d, d) for d in DIRECTIONS])
    allowed_change = models.FloatField(
        default=DEFAULT_ALLOWED_CHANGE, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    critical = models.BooleanField(default=False)
    min_samples = models.PositiveIntegerField(
        default=DEFAULT_MIN_SAMPLES, validators=[MinValueValidator(3), MaxValueValidator(1_000_000)]
    )
    # Length W of the baseline and current windows; empty means the service's observation window.
    window_minutes = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(10_080)])
    warmup_minutes = models.PositiveIntegerField(default=5, validators=[MaxValueValidator(1440)])
    # Compare with the same hour one week earlier instead of the baseline deploy's last W minutes.
    seasonal_baseline = models.BooleanField(default=False)
    # Shown on the axis of the metric's chart ("ms", "%", "req/s"); empty: a bare number.
    unit = models.CharField(max_length=20, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="metric_setting_unique_name"),
            models.CheckConstraint(condition=models.Q(direction__in=DIRECTIONS), name="metric_setting_direction"),
            models.CheckConstraint(condition=models.Q(allowed_change__gte=0), name="metric_setting_allowed_change"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.name}: {self.direction}"


class ImpactReport(DeployReport):
    """A deploy's impact against its baseline, recomputed while in its window; final at the window's end."""

    # What the timeline's chart draws of the report (impact_badge_columns: the score is the rows' alone).
    SHOWN = frozenset({"verdict", "final", "metrics"})

    deploy = models.OneToOneField("deployments.Deploy", on_delete=models.CASCADE, related_name="impact_report")
    verdict = models.CharField(max_length=20, choices=[(v, v) for v in VERDICTS], default=PENDING)
    score = models.FloatField(null=True, blank=True)
    final = models.BooleanField(default=False)
    reasons = models.JSONField(default=list)
    # Per-metric judgments, each with its windows, n, medians, means, U, p, HL and CI, thresholds.
    metrics = models.JSONField(default=list)
    windows = models.JSONField(default=dict)
    # sequential: against the baseline's last W minutes; concurrent: against the baseline's points in the same
    # window (a canary, A/B or shadow deploy beside its baseline). Both windows as {"start", "end"} (ISO).
    mode = models.CharField(max_length=20, choices=[(m, m) for m in REPORT_MODES], default=SEQUENTIAL)
    baseline_window = models.JSONField(null=True, blank=True)
    current_window = models.JSONField(null=True, blank=True)
    # Per segment label key, its judged values worst first: {key: [{value, verdict, score, n, metrics}]}.
    segments = models.JSONField(default=dict)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_ms = models.FloatField(null=True, blank=True)
    # What is due, for the sweep (metrics.impact.tasks.impacts_sweep). Every ingested batch bumps data_version;
    # a computation stores the version it read before reading points, so data it missed leaves the report due.
    data_version = models.BigIntegerField(default=0)
    computed_version = models.BigIntegerField(default=0)
    # When the oldest data not yet judged arrived (or the report was opened); cleared once it is judged.
    requested_at = models.DateTimeField(null=True, blank=True)
    # When a recomputation was last sent; the sweep sends it again only if no worker took it within a lease.
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The end of the observation window as of the last computation: from then on the report is due to be finalised.
    window_ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(verdict__in=VERDICTS), name="impact_verdict_valid"),
            models.CheckConstraint(condition=models.Q(mode__in=REPORT_MODES), name="impact_mode_valid"),
        ]
        indexes = [
            models.Index(fields=["final", "computed_at"], name="impact_final_computed"),
            # The sweep reads only open reports, oldest request first.
            models.Index(fields=["requested_at"], condition=models.Q(final=False), name="impact_open_requested"),
        ]

    def __str__(self) -> str:
        return f"impact of deploy {self.deploy_id}: {self.verdict}"

    @classmethod
    def shown_columns(cls) -> list:
        no_metrics = models.ExpressionWrapper(models.Q(metrics=[]), output_field=models.BooleanField())
        return [models.F("verdict"), models.F("final"), no_metrics]

    def shown(self) -> tuple:
        return self.verdict, self.final, self.metrics == []  # judged no metric at all (a grey "No metrics")
