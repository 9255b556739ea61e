"""The filters of the dashboard's pages (GET forms): a filter that does not parse is dropped, never an error."""

from __future__ import annotations

from django import forms

from deployments.models import Status

DORA_DAYS = 30


class TimelineFilterForm(forms.Form):
    service = forms.CharField(max_length=100, required=False)
    environment = forms.CharField(max_length=50, required=False)
    status = forms.ChoiceField(choices=Status.choices, required=False)

    def filters(self) -> dict[str, str]:
        """Each filter's value, "" when not given or not valid."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}


class DoraFilterForm(forms.Form):
    days = forms.IntegerField(required=False)
    all = forms.CharField(required=False)  # "1": every environment, not only production

    def window(self) -> tuple[int, bool]:
        """(days between 1 and 365, production only)."""
        self.is_valid()
        days = self.cleaned_data.get("days")
        return (DORA_DAYS if days is None else min(max(days, 1), 365)), self.cleaned_data.get("all") != "1"
