from django import forms

from tracker.models import Scope


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “GitHub Actions deploy job”")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)


class SigningSecretCreateForm(forms.Form):
    require = forms.BooleanField(required=False, help_text="refuse unsigned deploy events from now on")
