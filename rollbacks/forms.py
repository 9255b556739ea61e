"""The rollback endpoint form on the settings pages (the API's PUT /api/v1/rollback-endpoint, for people)."""

from __future__ import annotations

from django import forms

from rollbacks.payloads import EVENT_TYPE, EndpointFormat


class RollbackEndpointForm(forms.Form):
    url = forms.URLField(max_length=2048, label="URL", assume_scheme="https")
    format = forms.ChoiceField(
        choices=[
            (EndpointFormat.GENERIC.value, "Generic JSON"),
            (EndpointFormat.GITHUB.value, "GitHub repository_dispatch"),
            (EndpointFormat.GITLAB.value, "GitLab pipeline trigger"),
        ]
    )
    token = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput,
        help_text="GitHub: a token allowed to create dispatch events; GitLab: the pipeline trigger token. "
        "Leave empty to keep the stored one; a changed URL or format drops it.",
    )
    ref = forms.CharField(max_length=255, initial="main", help_text="GitLab: the branch or tag the pipeline runs on")
    event_type = forms.CharField(max_length=100, initial=EVENT_TYPE, help_text="GitHub: the repository_dispatch type")
    new_secret = forms.BooleanField(required=False, label="Generate a new signing secret (shown once)")
