"""Alert pages: roles (viewer, deployer, admin, outsider), CSRF-protected actions, constant query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import services
from alerts.models import Alert, Channel, Silence
from alerts.rules import ColumnFact, DeployFacts
from deployments.services import deploy_record

pytestmark = pytest.mark.django_db

PUBLIC_HOOK = "https://93.184.215.14/hooks/deploy-tracker"


def open_alerts(project, n: int, service: str = "fraud-scorer") -> list[Alert]:
    """n deploys of a service, each with one firing drift alert (a later deploy would supersede them, so
    each deploy gets its own environment)."""
    alerts = []
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    for i in range(n):
        deploy, _ = deploy_record(project=project, service=service, environment=f"env{i}", version=f"v{i}")
        alerts += services.alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    return alerts


def test_a_viewer_sees_alerts_but_no_buttons_and_cannot_acknowledge(client, vera, project) -> None:
    [alert] = open_alerts(project, 1)
    client.force_login(vera)
    page = client.get("/alpha/alerts/")
    assert page.status_code == 200
    assert alert.title in page.content.decode()
    assert "Acknowledge" not in page.content.decode()
    assert client.post(f"/alpha/alerts/{alert.pk}/ack/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == "firing"


def test_a_deployer_acknowledges_resolves_and_silences_from_the_page(client, bob, project) -> None:
    first, second = open_alerts(project, 2)
    client.force_login(bob)
    assert client.post(f"/alpha/alerts/{first.pk}/ack/").status_code == 302
    assert client.post(f"/alpha/alerts/{second.pk}/resolve/").status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.acknowledged_by) == ("acknowledged", bob)
    assert (second.status, second.resolved_by) == ("resolved", bob)
    response = client.post("/alpha/alerts/silences/", {"matchers": "service=fraud-scorer\nrule=~drift.*", "hours": "4"})
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [
        {"name": "service", "op": "=", "value": "fraud-scorer"},
        {"name": "rule", "op": "=~", "value": "drift.*"},
    ]
    assert client.post(f"/alpha/alerts/silences/{silence.pk}/expire/").status_code == 302


def test_a_bad_silence_is_refused_with_a_message_and_stores_nothing(client, bob, project) -> None:
    client.force_login(bob)
    response = client.post("/alpha/alerts/silences/", {"matchers": "service", "hours": "4"}, follow=True)
    assert "is not a matcher" in response.content.decode()
    response = client.post("/alpha/alerts/silences/", {"matchers": "service=x", "hours": "9999"}, follow=True)
    assert "Choose a duration" in response.content.decode()
    assert not Silence.objects.exists()


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ("service=~(.*.*)*!\nrule=~(a)\\1", "matcher 2: &#x27;(a)\\\\1&#x27; is not a valid RE2 regular expression"),
        ("service=~" + "x" * 1001, "matcher 1: a matcher value has at most 1000 characters"),
        ("service=~.*", "at least one matcher must not match the empty string"),
    ],
    ids=["backreference", "too-long", "mutes-everything"],
)
def test_a_silence_alertmanager_would_refuse_is_refused_with_a_clear_message(client, bob, project, matchers, message):
    client.force_login(bob)
    response = client.post("/alpha/alerts/silences/", {"matchers": matchers, "hours": "4"}, follow=True)
    assert message in response.content.decode()
    assert not Silence.objects.exists()


def test_page_actions_need_the_csrf_token(bob, project) -> None:
    from django.test import Client

    [alert] = open_alerts(project, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post(f"/alpha/alerts/{alert.pk}/ack/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == "firing"


def test_an_outsider_gets_404_on_the_pages(client, charlie, project) -> None:
    [alert] = open_alerts(project, 1)
    client.force_login(charlie)
    assert client.get("/alpha/alerts/").status_code == 404
    assert client.get("/alpha/alerts/settings/").status_code == 404
    assert client.post(f"/alpha/alerts/{alert.pk}/ack/").status_code == 404


def test_only_an_admin_changes_channels_from_the_settings_page(client, alice, bob, vera, project) -> None:
    for user in (bob, vera):
        client.force_login(user)
        page = client.get("/alpha/alerts/settings/")
        assert page.status_code == 200 and "Add a channel" not in page.content.decode()
        posted = client.post("/alpha/alerts/channels/", {"name": "x", "kind": "webhook", "url": PUBLIC_HOOK})
        assert posted.status_code == 403
    assert not Channel.objects.exists()
    client.force_login(alice)
    page = client.post("/alpha/alerts/channels/", {"name": "hook", "kind": "webhook", "url": PUBLIC_HOOK})
    assert page.status_code == 200
    assert "whsec_" in page.content.decode()  # shown once, on this response only
    assert "whsec_" not in client.get("/alpha/alerts/settings/").content.decode()


def test_the_settings_page_refuses_an_internal_url_and_says_why(client, alice, project, settings) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    client.force_login(alice)
    page = client.post("/alpha/alerts/channels/", {"name": "evil", "kind": "slack", "url": "https://169.254.169.254/"})
    assert "not a public address" in page.content.decode()
    assert not Channel.objects.exists()


def test_the_settings_page_shows_why_a_channel_was_disabled(client, alice, project) -> None:
    channel, _ = services.channel_create(project=project, name="hook", kind="webhook", url=PUBLIC_HOOK)
    Channel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="the receiver answered 410 Gone")
    client.force_login(alice)
    assert "the receiver answered 410 Gone" in client.get("/alpha/alerts/settings/").content.decode()


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_the_alerts_page_query_count_does_not_grow_with_its_rows(client, bob, project) -> None:
    open_alerts(project, 2)
    client.force_login(bob)
    few = _queries(client, "/alpha/alerts/")
    open_alerts(project, 6, service="churn-model")
    assert _queries(client, "/alpha/alerts/") == few


def test_the_timeline_and_deploy_page_show_open_alert_counts(client, bob, project) -> None:
    [alert] = open_alerts(project, 1)
    client.force_login(bob)
    assert "1 alert" in client.get("/alpha/").content.decode()
    detail = client.get(f"/alpha/deploys/{alert.deploy_id}/").content.decode()
    assert "1 open alert" in detail and alert.title in detail


def test_the_timeline_query_count_does_not_grow_with_alerted_rows(client, bob, project) -> None:
    open_alerts(project, 2)
    client.force_login(bob)
    few = _queries(client, "/alpha/")
    open_alerts(project, 5, service="churn-model")
    assert _queries(client, "/alpha/") == few


def test_an_open_alert_links_a_deployer_to_the_rollback_confirmation(client, bob, vera, project) -> None:
    [alert] = open_alerts(project, 1)
    link = f"/alpha/deploys/{alert.deploy_id}/rollback/"
    client.force_login(bob)
    assert link in client.get("/alpha/alerts/").content.decode()
    client.force_login(vera)
    assert link not in client.get("/alpha/alerts/").content.decode()


def test_an_email_channel_sends_through_djangos_mail_backend(project, settings) -> None:
    from django.core import mail
    from django.utils import timezone

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    channel, _ = services.channel_create(project=project, name="mail", kind="email", email_to=["oncall@example.com"])
    [alert] = open_alerts(project, 1)
    now = timezone.now()
    deliveries = services.alert_group_flush(group_id=alert.group_id, now=now + timezone.timedelta(seconds=30))
    [delivery] = [d for d in deliveries if d.channel_id == channel.pk]
    attempt = services.delivery_attempt(delivery_id=delivery.pk, now=now + timezone.timedelta(seconds=30))
    assert attempt.error == ""
    [message] = mail.outbox
    assert message.to == ["oncall@example.com"]
    assert message.subject.startswith("[FIRING] fraud-scorer/env0 v0 (pending): Dataset drift")
    assert f"/alpha/deploys/{alert.deploy_id}/" in message.body


def test_an_admin_scopes_a_rule_to_services_and_environments_from_the_page(client, alice, vera, project) -> None:
    rule = project.alert_rules.get(key="drift-share")
    form = {"enabled": "on", "severity": "critical", "threshold": "0.3", "services": "fraud-scorer, churn-model",
            "environments": "production"}  # fmt: skip
    client.force_login(vera)
    assert client.post(f"/alpha/alerts/rules/{rule.pk}/", form).status_code == 403
    client.force_login(alice)
    assert client.post(f"/alpha/alerts/rules/{rule.pk}/", form).status_code == 302
    rule.refresh_from_db()
    assert (rule.services, rule.environments, rule.severity, rule.threshold) == (
        ["fraud-scorer", "churn-model"],
        ["production"],
        "critical",
        0.3,
    )
    assert not rule.spec().applies_to("fraud-scorer", "staging")


def test_a_silence_with_a_too_long_comment_is_refused_with_the_reason_on_the_page(client, bob, project) -> None:
    client.force_login(bob)
    form = {"matchers": "service=fraud-scorer", "hours": "4", "comment": "x" * 501}
    page = client.post("/alpha/alerts/silences/", form, follow=True).content.decode()
    assert "Not silenced: comment: Ensure this value has at most 500 characters (it has 501)." in page
    assert not Silence.objects.exists()


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"name": "", "kind": "webhook", "url": PUBLIC_HOOK}, "name: This field is required."),
        ({"name": "hook", "kind": "fax", "url": PUBLIC_HOOK}, "kind: Select a valid choice. fax is not one of"),
        ({"name": "hook", "kind": "slack", "url": "not a url"}, "url: Enter a valid URL."),
        ({"name": "hook", "kind": "slack"}, "url: this channel needs a URL"),  # the service's own check
        ({"name": "mail", "kind": "email", "email_to": "oncall@example.com, nobody"}, "is not an e-mail address"),
    ],
)
def test_a_bad_channel_is_refused_with_the_field_and_why_and_the_form_kept(client, alice, project, form, error) -> None:
    client.force_login(alice)
    response = client.post("/alpha/alerts/channels/", form)
    page = response.content.decode()
    assert response.status_code == 400 and 'id="channel-errors"' in page and error in page
    assert f'name="name" required maxlength="100" value="{form["name"]}"' in page
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"threshold": "1.5"}, "threshold: The threshold is a share between 0 and 1."),
        ({"threshold": "lots"}, "threshold: The threshold is a share between 0 and 1."),
        ({"severity": "apocalyptic"}, "severity: Select a valid choice."),
        ({"environments": "production, " + "e" * 51}, "environments: " + "e" * 51 + " is longer than 50 characters"),
    ],
)
def test_a_bad_rule_setting_is_refused_with_the_reason_on_the_page(client, alice, project, form, error) -> None:
    rule = project.alert_rules.get(key="drift-share")
    before = (rule.threshold, rule.severity, rule.environments, rule.enabled)
    client.force_login(alice)
    page = client.post(f"/alpha/alerts/rules/{rule.pk}/", {"enabled": "on", **form}, follow=True).content.decode()
    assert f"Rule drift-share not saved: {error}" in page
    rule.refresh_from_db()
    assert (rule.threshold, rule.severity, rule.environments, rule.enabled) == before


def test_a_rule_row_changes_only_what_it_sends_and_an_empty_threshold_keeps_the_stored_one(client, alice, project):
    rule = project.alert_rules.get(key="drift-share")
    rule.services, rule.threshold = ["fraud-scorer"], 0.25
    rule.save()
    client.force_login(alice)
    assert client.post(f"/alpha/alerts/rules/{rule.pk}/", {"threshold": "", "severity": "critical"}).status_code == 302
    rule.refresh_from_db()
    # Unchecked "enabled" sends nothing: the rule is disabled; the scopes the row did not send stay.
    assert (rule.threshold, rule.severity, rule.enabled, rule.services) == (0.25, "critical", False, ["fraud-scorer"])
