"""Prediction-sample columns, their bounded per-deploy sketches, drift settings and drift reports."""

from __future__ import annotations

import numpy as np
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from deployments.models import DeployReport
from metrics.stats.drift import METHODS

KIND_CHOICES = [("numeric", "numeric"), ("categorical", "categorical"), ("boolean", "boolean")]
ROLE_CHOICES = [("feature", "feature"), ("prediction", "prediction"), ("label", "label")]
METHOD_CHOICES = [(m, m) for m in sorted(METHODS)]


class SampleColumn(models.Model):
    """One column of a service's prediction samples: kind learned on first sight, bin edges frozen once."""

    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="sample_columns")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    # Inner bin edges (little-endian float64), frozen the first time any deploy's reservoir overflowed;
    # every deploy of the service counts on the same edges, so counts compare exactly.
    edges = models.BinaryField(null=True, blank=True)
    # Per-service overrides of the default drift method and threshold for this column.
    method = models.CharField(max_length=20, choices=METHOD_CHOICES, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "role", "name"], name="sample_column_unique"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["numeric", "categorical", "boolean"]), name="sample_column_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_id}:{self.role}:{self.name} ({self.kind})"

    def edges_array(self) -> np.ndarray | None:
        return None if self.edges is None else np.frombuffer(bytes(self.edges), dtype="<f8").astype(np.float64)


class ColumnSketch(models.Model):
    """What drift needs of one column's samples for one deploy; its size has a fixed ceiling."""

    deploy = models.ForeignKey("deployments.Deploy", on_delete=models.CASCADE, related_name="column_sketches")
    column = models.ForeignKey(SampleColumn, on_delete=models.CASCADE, related_name="sketches")
    data = models.BinaryField()  # metrics.stats.sketch.to_bytes (binned: read with the column's frozen edges)
    n = models.BigIntegerField(default=0)  # non-null values posted (also inside data; here for listing)
    nulls = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "column sketches"
        constraints = [models.UniqueConstraint(fields=["deploy", "column"], name="column_sketch_unique")]

    def __str__(self) -> str:
        return f"sketch of {self.column_id} for deploy {self.deploy_id} (n={self.n})"


class SampleBatch(models.Model):
    """A posted batch remembered by its batch_id, so that a retried batch is not counted twice."""

    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="+")
    batch_id = models.CharField(max_length=200)
    rows = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "sample batches"
        constraints = [models.UniqueConstraint(fields=["project", "batch_id"], name="sample_batch_unique_id")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} ({self.rows} rows)"


class DriftSetting(models.Model):
    """A service's drift settings; absent means the defaults (Evidently's)."""

    service = models.OneToOneField("deployments.Service", on_delete=models.CASCADE, related_name="drift_setting")
    drift_share = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    categorical_method = models.CharField(
        max_length=20, default="chisquare", choices=[("chisquare", "chisquare"), ("chisquare_gof", "chisquare_gof")]
    )

    def __str__(self) -> str:
        return f"drift settings of {self.service_id}"


class DriftReport(DeployReport):
    """The latest drift judgement of one deploy against its baseline; recomputed while in its window."""

    # The timeline's badge (drift_badge_columns).
    SHOWN = frozenset({"status", "n_columns", "n_drifted", "n_expected", "dataset_drift", "prediction_drift_cause"})

    deploy = models.OneToOneField("deployments.Deploy", on_delete=models.CASCADE, related_name="drift_report")
    baseline = models.ForeignKey(
        "deployments.Deploy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # pending (data, not computed yet), ok, no_baseline (nothing to compare with)
    status = models.CharField(max_length=20, default="pending")
    n_columns = models.PositiveIntegerField(default=0)
    n_drifted = models.PositiveIntegerField(default=0)
    n_expected = models.PositiveIntegerField(default=0)
    drift_share = models.FloatField(default=0.0)
    dataset_drift = models.BooleanField(default=False)
    prediction_drift_cause = models.CharField(max_length=20, blank=True)
    result = models.JSONField(null=True, blank=True)  # DriftReport.as_dict() plus the inputs' description
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_ms = models.FloatField(null=True, blank=True)
    final = models.BooleanField(default=False)  # the observation window has ended
    # Set when new data (or the end of the window) calls for a recomputation; cleared by the claim.
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"drift of deploy {self.deploy_id}: {self.n_drifted}/{self.n_columns}"


class QualitySketch(models.Model):
    """A bounded sample of one deploy's (prediction, label) pairs: realised quality once labels arrive."""

    deploy = models.OneToOneField("deployments.Deploy", on_delete=models.CASCADE, related_name="quality_sketch")
    data = models.BinaryField()  # metrics.stats.sketch.pairs_to_bytes
    n = models.BigIntegerField(default=0)  # labelled rows posted
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "quality sketches"

    def __str__(self) -> str:
        return f"pairs of deploy {self.deploy_id} (n={self.n})"


class FairnessCount(models.Model):
    """Additive counts of one group of a sensitive column for one deploy, at one classification threshold.

    Kept at ingest at the service's threshold of the time (metrics.stats.fairness): a changed threshold applies
    to samples posted after the change. At most MAX_GROUPS groups per deploy and column (others pool).
    """

    deploy = models.ForeignKey("deployments.Deploy", on_delete=models.CASCADE, related_name="fairness_counts")
    column = models.ForeignKey(SampleColumn, on_delete=models.CASCADE, related_name="fairness_counts")
    group = models.CharField(max_length=200)
    threshold = models.FloatField()
    n = models.BigIntegerField(default=0)
    positives = models.BigIntegerField(default=0)
    tp = models.BigIntegerField(default=0)
    fn = models.BigIntegerField(default=0)
    fp = models.BigIntegerField(default=0)
    tn = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["deploy", "column", "group", "threshold"], name="fairness_count_unique_group"
            )
        ]

    def __str__(self) -> str:
        return f"{self.column_id}={self.group} of deploy {self.deploy_id} (n={self.n})"
