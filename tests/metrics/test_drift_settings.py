"""The columns page's drift settings: a form with a method and threshold per column, a typed service."""

from __future__ import annotations

import pytest

from deployments.services import service_get_or_create
from metrics.drift.models import DriftSetting, SampleColumn
from metrics.drift.services import ColumnOverride, SettingsInvalid, drift_settings_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def columns(project) -> dict[str, SampleColumn]:
    service = service_get_or_create(project=project, name="fraud-scorer")
    return {
        name: SampleColumn.objects.create(service=service, role="feature", name=name, kind=kind)
        for name, kind in (("amount", "numeric"), ("country", "categorical"))
    }


def settings_url(project) -> str:
    return f"/{project.slug}/services/fraud-scorer/drift-settings/"


def test_an_admin_saves_the_service_and_column_settings(client, alice, project, columns):
    amount, country = columns["amount"], columns["country"]
    form = {"drift_share": "0.3", "categorical_method": "chisquare_gof", f"method_{amount.pk}": "psi",
            f"threshold_{amount.pk}": "0.2", f"method_{country.pk}": "", f"threshold_{country.pk}": ""}  # fmt: skip
    client.force_login(alice)
    page = client.post(settings_url(project), form, follow=True).content.decode()
    assert "Drift settings saved." in page
    amount.refresh_from_db()
    assert (amount.method, amount.threshold) == ("psi", 0.2)
    setting = DriftSetting.objects.get(service=amount.service)
    assert (setting.drift_share, setting.categorical_method) == (0.3, "chisquare_gof")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("drift_share", "lots", "drift share: Enter a number."),
        ("drift_share", "1.5", "the drift share is a number above 0 and at most 1"),
        ("categorical_method", "coin", "categorical test: Select a valid choice. coin is not one of"),
        ("method", "magic", "method of amount: Select a valid choice. magic is not one of the available choices."),
        ("threshold", "-1", "the threshold of amount must be above 0"),
        ("threshold", "nan", "threshold of amount: Enter a number."),
    ],
)
def test_bad_drift_settings_are_refused_with_the_reason_on_the_page(
    client, alice, project, columns, field, value, error
):
    amount = columns["amount"]
    form = {"drift_share": "0.3", "categorical_method": "chisquare_gof", f"method_{amount.pk}": "psi"}
    form[f"{field}_{amount.pk}" if field in ("method", "threshold") else field] = value
    client.force_login(alice)
    page = client.post(settings_url(project), form, follow=True).content.decode()
    assert f"Drift settings not saved: {error}" in page
    amount.refresh_from_db()
    assert amount.method == "" and not DriftSetting.objects.exists()


def test_the_service_takes_typed_values_and_resets_the_columns_it_is_not_given(columns):
    amount, country = columns["amount"], columns["country"]
    SampleColumn.objects.filter(pk=country.pk).update(method="psi")
    service = amount.service
    with pytest.raises(SettingsInvalid):
        drift_settings_update(service=service, drift_share=0.0, categorical_method="chisquare", overrides={})
    with pytest.raises(SettingsInvalid):
        drift_settings_update(
            service=service, drift_share=0.5, categorical_method="chisquare",
            overrides={amount.pk: ColumnOverride(method="", threshold=float("inf"))},
        )  # fmt: skip
    drift_settings_update(
        service=service,
        drift_share=0.4,
        categorical_method="chisquare",
        overrides={amount.pk: ColumnOverride(method="wasserstein", threshold=0.2)},
    )
    amount.refresh_from_db()
    country.refresh_from_db()
    assert (amount.method, amount.threshold, country.method) == ("wasserstein", 0.2, "")
    assert DriftSetting.objects.get(service=service).drift_share == 0.4
