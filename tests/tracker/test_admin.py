from __future__ import annotations

import re

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


def english_plural(name: str) -> str:
    """The regular English plural of the last word: deliveries, sketches, batches, queries; "settings" stays."""
    if name.endswith("settings"):
        return name
    if re.search(r"[^aeiou]y$", name):
        return name[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", name):
        return name + "es"
    return name + "s"


def test_every_model_of_ours_has_its_plural_right_in_the_admin():
    wrong = {
        model._meta.verbose_name_plural: english_plural(str(model._meta.verbose_name))
        for app in OUR_APPS
        for model in apps.get_app_config(app).get_models()
        if str(model._meta.verbose_name_plural) != english_plural(str(model._meta.verbose_name))
    }
    assert wrong == {}
    assert english_plural("delivery") == "deliveries" and english_plural("column sketch") == "column sketches"


def test_the_audit_log_has_no_add_in_the_admin(admin_client):
    changelist = admin_client.get("/admin/tracker/auditlog/").content.decode()
    assert admin_client.get("/admin/tracker/auditlog/add/").status_code == 403
    assert "/admin/tracker/auditlog/add/" not in changelist
    assert "Deliveries" in admin_client.get("/admin/").content.decode()


@pytest.mark.parametrize("app", OUR_APPS)
def test_every_admin_changelist_renders(admin_client, app):
    for model in apps.get_app_config(app).get_models():
        if admin.site.is_registered(model):
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            assert admin_client.get(url).status_code == 200, url


def widget_data(form) -> dict[str, object]:
    """What a browser posts for a form as rendered: each widget's (or sub-widget's) name and value."""
    data: dict[str, object] = {}
    for name in form.fields:
        bound = form[name]
        # The admin wraps relation widgets (the "+" link); the wrapped widget is the one that posts.
        inner = getattr(bound.field.widget, "widget", bound.field.widget)
        widget = inner.get_context(bound.html_name, bound.value(), {})["widget"]
        for part in widget.get("subwidgets") or [widget]:
            if part.get("value") is not None and part.get("type") != "checkbox":
                data[part["name"]] = part["value"]
            elif part.get("type") == "checkbox" and part["attrs"].get("checked"):
                data[part["name"]] = "on"
    return data


def change_form_data(response) -> dict[str, object]:
    """What the admin's change form would post back unchanged: its fields and every inline's forms."""
    data = widget_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {formset.management_form.add_prefix(k): v for k, v in formset.management_form.initial.items()}
        for inline_form in formset.forms:
            data |= widget_data(inline_form)
    return data


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "root-password"))
    return client


def test_a_superuser_cannot_change_a_deploys_status_in_the_admin(superuser_client, project):
    from deployments.models import Deploy
    from deployments.services import deploy_record

    deploy, _ = deploy_record(project=project, service="svc", environment="production", version="1", status="succeeded")
    url = f"/admin/deployments/deploy/{deploy.pk}/change/"
    data = change_form_data(superuser_client.get(url))
    assert "status" not in data
    data |= {"status": "failed", "is_rollback": "on", "author": "someone else"}
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    deploy = Deploy.objects.get(pk=deploy.pk)
    # The form was saved (the author changed), the status around the forward-only rule was not.
    assert (deploy.author, deploy.status, deploy.is_rollback) == ("someone else", "succeeded", False)


def test_a_superuser_cannot_change_a_rollback_requests_state_in_the_admin(superuser_client, project):
    from rollbacks.models import RollbackRequest
    from rollbacks.services import rollback_request_create
    from tests.rollbacks.rollback_world import endpoint, history

    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3)
    state = RollbackRequest.objects.get(pk=rollback.pk).state
    url = f"/admin/rollbacks/rollbackrequest/{rollback.pk}/change/"
    data = change_form_data(superuser_client.get(url))
    assert "state" not in data
    data |= {"state": "succeeded", "reason": "edited in the admin"}
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    rollback = RollbackRequest.objects.get(pk=rollback.pk)
    assert (rollback.reason, rollback.state, rollback.completed_by_id) == ("edited in the admin", state, None)
