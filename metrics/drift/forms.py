"""The columns page's drift settings form: the service's settings, and `method_<id>`, `threshold_<id>` per column."""

from __future__ import annotations

from typing import Any

from django import forms

from metrics.drift.models import SampleColumn
from metrics.drift.services import CATEGORICAL_METHODS, OVERRIDE_METHODS, ColumnOverride


class DriftSettingsForm(forms.Form):
    drift_share = forms.FloatField(label="drift share")
    categorical_method = forms.TypedChoiceField(
        choices=[(m, m) for m in CATEGORICAL_METHODS], required=False, empty_value="chisquare", label="categorical test"
    )

    def __init__(self, *args: Any, columns: list[SampleColumn], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        methods = [("", "default"), *((m, m) for m in OVERRIDE_METHODS)]
        for column in columns:
            self.fields[f"method_{column.pk}"] = forms.ChoiceField(
                choices=methods, required=False, label=f"method of {column.name}"
            )
            self.fields[f"threshold_{column.pk}"] = forms.FloatField(
                required=False, label=f"threshold of {column.name}"
            )

    def overrides(self) -> dict[int, ColumnOverride]:
        data = self.cleaned_data
        return {
            c.pk: ColumnOverride(method=data[f"method_{c.pk}"], threshold=data[f"threshold_{c.pk}"])
            for c in self.columns
        }
