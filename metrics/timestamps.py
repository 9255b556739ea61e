"""Timestamps as the ingest APIs accept them (pure: no Django imports)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def epoch_seconds(stamp: Any) -> float:
    """Epoch seconds from a number or an ISO 8601 string with a timezone; TypeError/ValueError otherwise."""
    if isinstance(stamp, bool):
        raise TypeError("not a time")
    if isinstance(stamp, int | float):
        if not math.isfinite(stamp):
            raise ValueError("not finite")
        return float(stamp)
    if not isinstance(stamp, str) or len(stamp) > 40:
        raise TypeError("not a time")
    parsed = datetime.fromisoformat(stamp)
    if parsed.tzinfo is None:
        raise ValueError("a timezone is required")
    return parsed.astimezone(UTC).timestamp()
