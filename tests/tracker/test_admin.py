from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

OUR_APPS = ("tracker", "deployments", "impact", "drift", "sources", "rollbacks", "alerts")


def test_every_model_of_ours_is_in_the_admin():
    missing = [
        f"{model._meta.app_label}.{model.__name__}"
        for app in OUR_APPS
        for model in apps.get_app_config(app).get_models()
        if not admin.site.is_registered(model)
    ]
    assert not missing, f"register these in an admin.py: {missing}"


@pytest.mark.parametrize("app", OUR_APPS)
def test_every_admin_changelist_renders(admin_client, app):
    for model in apps.get_app_config(app).get_models():
        if admin.site.is_registered(model):
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            assert admin_client.get(url).status_code == 200, url
