"""The metrics app's tables; each subject keeps its models in its own module."""

from metrics.drift.models import ColumnSketch, DriftReport, DriftSetting, QualitySketch, SampleBatch, SampleColumn
from metrics.impact.models import ImpactReport, MetricBatch, MetricPoint, MetricRollup, MetricSetting

__all__ = [
    "ColumnSketch",
    "DriftReport",
    "DriftSetting",
    "ImpactReport",
    "MetricBatch",
    "MetricPoint",
    "MetricRollup",
    "MetricSetting",
    "QualitySketch",
    "SampleBatch",
    "SampleColumn",
]
