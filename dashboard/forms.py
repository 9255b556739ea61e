"""The filters of the dashboard's pages (GET forms): a filter that does not parse is dropped, never an error."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from deployments.models import Status

DORA_DAYS = 30
# The timeline's time ranges: "" is all time; "custom" reads `since` and `until` (days, both included).
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_CHOICES = [("", "All time"), ("24h", "Last 24 h"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
                 ("custom", "Custom")]  # fmt: skip


class TimelineFilterForm(forms.Form):
    service = forms.CharField(max_length=100, required=False)
    environment = forms.CharField(max_length=50, required=False)
    status = forms.ChoiceField(choices=Status.choices, required=False)
    # Version, commit SHA (prefix), author or model version.
    q = forms.CharField(max_length=100, required=False, strip=True)
    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)

    def filters(self) -> dict[str, str]:
        """Each filter's value as a string for the page's links, "" when not given or not valid."""
        self.is_valid()
        return {name: str(self.cleaned_data.get(name) or "") for name in self.fields}

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The chosen range as [since, until) instants; None where open."""
        self.is_valid()
        chosen = self.cleaned_data.get("range")
        if chosen in RANGES:
            return now - RANGES[chosen], None
        if chosen != "custom":
            return None, None
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return _day_start(since), _day_start(until + timedelta(days=1)) if until else None


class ServicePageForm(TimelineFilterForm):
    """The service page: the timeline's time range (the last 7 days unless chosen) and the metric to draw."""

    metric = forms.CharField(max_length=200, required=False)

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        self.is_valid()
        return super().window(now) if self.cleaned_data.get("range") else (now - RANGES["7d"], None)

    def chosen_metric(self, names: list[str]) -> str:
        """The chosen metric when the service has it, else its first."""
        self.is_valid()
        chosen = self.cleaned_data.get("metric")
        return chosen if chosen in names else (names[0] if names else "")


def _day_start(day: date | None) -> datetime | None:
    return timezone.make_aware(datetime.combine(day, time.min)) if day else None


class DoraFilterForm(forms.Form):
    days = forms.IntegerField(required=False)
    all = forms.CharField(required=False)  # "1": every environment, not only production

    def window(self) -> tuple[int, bool]:
        """(days between 1 and 365, production only)."""
        self.is_valid()
        days = self.cleaned_data.get("days")
        return (DORA_DAYS if days is None else min(max(days, 1), 365)), self.cleaned_data.get("all") != "1"
