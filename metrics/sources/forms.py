"""The metric sources page's form: the API's POST body, for people (queries as the API's JSON list)."""

from __future__ import annotations

import json

from django import forms

from metrics.sources.models import DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, TENANT_MAX_LENGTH

QUERIES_EXAMPLE = (
    '[{"service": "fraud-scorer", "name": "latency_ms", "step_seconds": 15, "direction": "increase_is_bad",\n'
    '  "query": "avg(latency_ms{service=\\"{{service}}\\",version=\\"{{version}}\\"})"}]'
)


class SourceForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=2048, label="Base URL", assume_scheme="https",
                         help_text="e.g. https://prometheus.example:9090 (…/api/v1/query_range is added)")  # fmt: skip
    bearer_token = forms.CharField(max_length=4000, required=False, widget=forms.PasswordInput,
                                   help_text="optional; write-only, stored encrypted")  # fmt: skip
    tenant = forms.CharField(max_length=TENANT_MAX_LENGTH, required=False, label="Tenant",
                             help_text="Mimir or Cortex: the tenant ID, sent as X-Scope-OrgID; "
                             "empty for Prometheus")  # fmt: skip
    timeout_seconds = forms.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, initial=DEFAULT_TIMEOUT_SECONDS)
    queries = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "placeholder": QUERIES_EXAMPLE}),
                              help_text="a JSON list: service, name, query, step_seconds, direction, critical, "
                              "allowed_change (as the API takes them)")  # fmt: skip

    def clean_queries(self) -> list[dict]:
        try:
            value = json.loads(self.cleaned_data["queries"])
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise forms.ValidationError("give a JSON list of query objects")
        return value
