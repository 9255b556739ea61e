"""Live metrics and impact analysis: point ingestion, per-minute rollups, metric settings, impact reports."""
