"""The rollback pages' forms: the confirmation step, and the endpoint settings (the API's PUT, for people)."""

from __future__ import annotations

from typing import Any

from django import forms

from deployments.models import Deploy
from rollbacks.payloads import EVENT_TYPE, EndpointFormat

REASON_MAX = 1000
CHOOSE_TARGET = "Choose one of the listed earlier deploys as the target."


class RollbackConfirmForm(forms.Form):
    """The target among the deploys the page allows, and an optional reason."""

    target = forms.TypedChoiceField(
        coerce=int, error_messages={"required": CHOOSE_TARGET, "invalid_choice": CHOOSE_TARGET}
    )
    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        error_messages={"max_length": f"The reason is at most {REASON_MAX} characters."},
    )

    def __init__(self, *args: Any, targets: list[Deploy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets = {deploy.pk: deploy for deploy in targets}
        self.fields["target"].choices = [(deploy.pk, deploy.version) for deploy in targets]

    def first_error(self) -> str:
        """The page states one problem at a time, the target's first."""
        return next((errors[0] for errors in self.errors.values()), "")


class PromotionForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        error_messages={"max_length": f"The reason is at most {REASON_MAX} characters."},
    )


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
