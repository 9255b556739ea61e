"""The forms of the alert pages (the API's serializers, for people): a silence, a channel, a rule's settings."""

from __future__ import annotations

from typing import Any

from django import forms

from alerts.models import ChannelKind, Severity

SILENCE_HOURS = (1, 4, 12, 24, 72, 168)
SHARE_ERROR = "The threshold is a share between 0 and 1."


class NameListField(forms.CharField):
    """Names separated by commas or new lines ("fraud-scorer, churn-model") as a list; empty is the empty list."""

    def __init__(self, *, max_names: int, max_name_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_names, self.max_name_length = max_names, max_name_length

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [name.strip() for name in text.replace("\n", ",").split(",") if name.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > self.max_names:
            raise forms.ValidationError(f"at most {self.max_names} names")
        if too_long := [name for name in value if len(name) > self.max_name_length]:
            raise forms.ValidationError(f"{too_long[0]} is longer than {self.max_name_length} characters")


class SilenceForm(forms.Form):
    # One Alertmanager matcher per line; the service parses them and says which one is wrong.
    matchers = forms.CharField(widget=forms.Textarea, required=False)
    hours = forms.TypedChoiceField(
        choices=[(h, f"{h} h") for h in SILENCE_HOURS],
        coerce=int,
        required=False,
        empty_value=4,
        error_messages={"invalid_choice": "Choose a duration from the list."},
    )
    comment = forms.CharField(max_length=500, required=False)

    def clean_matchers(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["matchers"].splitlines() if line.strip()]


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    url = forms.URLField(max_length=2048, required=False, assume_scheme="https")
    secret = forms.CharField(max_length=200, required=False)
    email_to = NameListField(max_names=100, max_name_length=254, required=False)
    change_events = forms.BooleanField(required=False)


class RuleForm(forms.Form):
    """One rule's row on the settings page; a row shows only its kind's inputs (threshold or column)."""

    severity = forms.ChoiceField(choices=Severity.choices, required=False)
    threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        error_messages={"invalid": SHARE_ERROR, "min_value": SHARE_ERROR, "max_value": SHARE_ERROR},
    )
    column = forms.CharField(max_length=200, required=False)
    services = NameListField(max_names=100, max_name_length=100, required=False)
    environments = NameListField(max_names=100, max_name_length=50, required=False)
    enabled = forms.BooleanField(required=False)

    def changes(self) -> dict[str, Any]:
        """The cleaned values of the inputs the row sent; an empty threshold keeps the stored one."""
        sent = {name: value for name, value in self.cleaned_data.items() if name in self.data}
        sent["enabled"] = self.cleaned_data["enabled"]  # an unchecked box sends nothing
        for name in ("severity", "threshold"):
            if sent.get(name) in (None, ""):
                sent.pop(name, None)
        return sent
