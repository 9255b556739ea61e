"""Per-service analysis settings, resolved: an environment's override, else the service's value, else the default.

Pure: the rows come in as plain objects with the fields below (a value of None means "not set at this level").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

IMPACT_MODES = ("auto", "sequential", "concurrent")
DEFAULT_WARMUP_MINUTES = 5
DEFAULT_CLASSIFICATION_THRESHOLD = 0.5
# Bounds the API and the settings page hold every value to.
MAX_WINDOW_MINUTES = 10_080
MAX_WARMUP_MINUTES = 1_440
MAX_SEGMENT_LABELS = 5
MAX_SENSITIVE_COLUMNS = 20
MAX_REQUIRED_CHECKS = 50
# A label key judged per segment is judged on at most this many of its values (the largest by volume).
MAX_SEGMENTS_PER_LABEL = 20

FIELDS = (
    "observation_window_minutes",
    "warmup_minutes",
    "seasonal_baseline",
    "impact_mode",
    "segment_labels",
    "sensitive_columns",
    "classification_threshold",
    "required_checks",
)


@dataclass(frozen=True)
class AnalysisSettings:
    """Every per-service analysis setting as it applies to one stream (service and environment)."""

    observation_window_minutes: int
    warmup_minutes: int = DEFAULT_WARMUP_MINUTES
    seasonal_baseline: bool = False
    # auto: concurrent when the deploy runs beside its baseline and the baseline still gets points, else sequential.
    impact_mode: str = "auto"
    segment_labels: tuple[str, ...] = ()
    sensitive_columns: tuple[str, ...] = ()
    classification_threshold: float = DEFAULT_CLASSIFICATION_THRESHOLD
    required_checks: tuple[str, ...] = ()
    # The fields set at the asked level itself (the others are inherited).
    set_here: frozenset[str] = field(default=frozenset(), compare=False)

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("set_here")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def resolve(*, rows: Iterable[Any], environment_id: int | None, default_window_minutes: int) -> AnalysisSettings:
    """Merge a service's settings rows (its own, environment_id None, and one per environment) for one environment.

    With environment_id None the service's own values apply; `set_here` names what the asked level sets itself.
    """
    service_row = env_row = None
    for row in rows:
        if row.environment_id is None:
            service_row = row
        elif environment_id is not None and row.environment_id == environment_id:
            env_row = row
    values: dict[str, Any] = {}
    for row in (service_row, env_row):
        if row is None:
            continue
        for name in FIELDS:
            value = getattr(row, name)
            if value is not None:
                values[name] = tuple(value) if isinstance(value, list) else value
    asked = env_row if environment_id is not None else service_row
    set_here = frozenset(n for n in FIELDS if asked is not None and getattr(asked, n) is not None)
    values.setdefault("observation_window_minutes", default_window_minutes)
    return AnalysisSettings(**values, set_here=set_here)
