"""The service settings page's form: one level (the service's own values, or one environment's override) of
the settings GET/PATCH /api/v1/services/{service}/settings reads and writes, under the same bounds."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from deployments import analysis_settings as limits

# The API's rules (deployments.settings_api): a metric label key, and a prediction feature or check name.
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}\Z")
INHERIT = ("", "inherit")


class NameListField(forms.CharField):
    """Comma-separated names; empty inherits (None). Each name at most once, within the API's limits."""

    def __init__(self, *, pattern: re.Pattern[str], max_items: int, max_name: int, **kwargs: Any) -> None:
        self.pattern, self.max_items, self.max_name = pattern, max_items, max_name
        super().__init__(required=False, max_length=10_000, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str] | None:
        text = super().to_python(value)
        if not text.strip():
            return None
        names = [name.strip() for name in text.split(",") if name.strip()]
        if len(names) > self.max_items:
            raise forms.ValidationError(f"At most {self.max_items} names.")
        if len(set(names)) != len(names):
            raise forms.ValidationError("Each name at most once.")
        bad = [n for n in names if len(n) > self.max_name or not self.pattern.match(n)]
        if bad:
            raise forms.ValidationError(f"Not a valid name: {bad[0][:50]}")
        return names


class ServiceSettingsForm(forms.Form):
    """Every field left empty inherits (the environment's override from the service, the service from the default)."""

    observation_window_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=limits.MAX_WINDOW_MINUTES, label="Observation window (minutes)"
    )
    warmup_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=limits.MAX_WARMUP_MINUTES, label="Warm-up (minutes)"
    )
    seasonal_baseline = forms.TypedChoiceField(
        required=False,
        choices=[INHERIT, ("true", "yes: the same hour a week earlier"), ("false", "no")],
        coerce=lambda value: value == "true",
        empty_value=None,
        label="Seasonal baseline",
    )
    impact_mode = forms.TypedChoiceField(
        required=False, choices=[INHERIT, *((m, m) for m in limits.IMPACT_MODES)], empty_value=None
    )
    segment_labels = NameListField(
        pattern=LABEL_KEY, max_items=limits.MAX_SEGMENT_LABELS, max_name=100, label="Segment labels"
    )
    sensitive_columns = NameListField(
        pattern=NAME, max_items=limits.MAX_SENSITIVE_COLUMNS, max_name=200, label="Sensitive columns"
    )
    classification_threshold = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Classification threshold"
    )
    required_checks = NameListField(
        pattern=NAME, max_items=limits.MAX_REQUIRED_CHECKS, max_name=200, label="Required checks"
    )

    def changes(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The fields whose value at this level differs from what is stored there (None: inherit)."""
        return {name: value for name, value in self.cleaned_data.items() if value != stored.get(name)}
