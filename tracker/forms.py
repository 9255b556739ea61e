"""Forms of the core's pages, and how any page states a bound form's errors in one line."""

from django import forms

from tracker.models import Scope


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “GitHub Actions deploy job”")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)


class SigningSecretCreateForm(forms.Form):
    require = forms.BooleanField(required=False, help_text="refuse unsigned deploy events from now on")


class SigningRequiredForm(forms.Form):
    # The page's button posts "1" to require signatures and "0" to make them optional.
    required = forms.TypedChoiceField(choices=[("1", "required"), ("0", "optional")], coerce=lambda value: value == "1")


def errors_text(form: forms.Form) -> str:
    """A bound form's errors in one line, for a message on the page: "threshold of amount: Enter a number."."""
    return "; ".join(
        " ".join(errors) if field == "__all__" else f"{form.fields[field].label or field}: {' '.join(errors)}"
        for field, errors in form.errors.items()
    )


class AuditFilterForm(forms.Form):
    """The audit log's filters (GET, so a filtered view is a link); an invalid value is ignored."""

    actor = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=100)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)

    def filters(self) -> dict:
        if not self.is_valid():
            return {key: value for key, value in self.cleaned_data.items() if key not in self.errors}
        return {key: value for key, value in self.cleaned_data.items()}
