from __future__ import annotations

import re

from tracker.models import ApiToken, AuditLog, SigningSecret
from tracker.services import token_hash


def test_an_admin_issues_a_token_that_is_shown_once_and_stored_hashed(client, alice, project):
    client.force_login(alice)
    response = client.post(f"/{project.slug}/settings/tokens/", {"name": "gha", "scopes": ["ingest", "read"]})
    assert response.status_code == 200
    raw = re.search(r"(dtk_[A-Za-z0-9_\-]+)", response.content.decode()).group(1)
    token = ApiToken.objects.get(name="gha")
    assert token.token_hash == token_hash(raw) and token.scopes == ["ingest", "read"]
    assert raw not in client.get(f"/{project.slug}/settings/").content.decode()
    assert AuditLog.objects.filter(action="token.issued", actor_user=alice).exists()


def test_a_token_without_scopes_is_refused_with_the_form_error(client, alice, project):
    client.force_login(alice)
    response = client.post(f"/{project.slug}/settings/tokens/", {"name": "gha"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_revoked_token_stops_working(client, alice, project, make_token):
    raw = make_token(project, ["read"])
    client.force_login(alice)
    token = ApiToken.objects.get()
    assert client.post(f"/{project.slug}/settings/tokens/{token.pk}/revoke/").status_code == 302
    from tests.helpers import client_for

    assert client_for(raw).get("/api/v1/deploys").status_code == 401


def test_deployers_and_viewers_cannot_manage_tokens_or_secrets(client, bob, vera, project):
    for user in (bob, vera):
        client.force_login(user)
        assert client.post(f"/{project.slug}/settings/tokens/", {"name": "x", "scopes": ["read"]}).status_code == 403
        assert client.post(f"/{project.slug}/settings/signing-secrets/").status_code == 403
        page = client.get(f"/{project.slug}/settings/").content.decode()
        assert "Issue token" not in page
    assert not ApiToken.objects.exists() and not SigningSecret.objects.exists()


def test_an_admin_issues_a_signing_secret_and_requires_signatures(client, alice, project):
    client.force_login(alice)
    response = client.post(f"/{project.slug}/settings/signing-secrets/", {"require": "on"})
    assert re.search(r"whsec_[A-Za-z0-9+/=]+", response.content.decode())
    project.refresh_from_db()
    assert project.require_signed_webhooks
    client.post(f"/{project.slug}/settings/signing-required/", {"required": "0"})
    project.refresh_from_db()
    assert not project.require_signed_webhooks


def test_the_audit_log_lists_who_did_what(client, alice, project):
    client.force_login(alice)
    client.post(f"/{project.slug}/settings/tokens/", {"name": "gha", "scopes": ["read"]})
    page = client.get(f"/{project.slug}/settings/audit/").content.decode()
    assert "Token issued" in page and "alice" in page


def test_the_audit_log_reads_as_words_and_filters_by_actor_action_and_day(client, alice, bob, project):
    from datetime import timedelta

    from django.utils import timezone

    from tracker.models import AuditLog
    from tracker.services import audit_record

    details = {"service": "fraud-scorer", "critical": True, "scopes": ["read", "ingest"]}
    audit_record(project=project, action="metric_setting.saved", user=alice, details=details)
    audit_record(project=project, action="alert.acknowledged", user=bob)
    old = audit_record(project=project, action="alert.acknowledged", user=alice)
    AuditLog.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=10))
    client.force_login(alice)
    url = f"/{project.slug}/settings/audit/"

    def rows(**query):
        return client.get(url, query).content.decode().count('class="audit-row"')

    page = client.get(url).content.decode()
    assert "Metric setting saved" in page and "<dt>Service</dt><dd>fraud-scorer</dd>" in page
    assert "<dt>Critical</dt><dd>yes</dd>" in page and "<dd>read, ingest</dd>" in page and "{&#x27;" not in page
    everything = AuditLog.objects.filter(project=project).count()  # with the project's creation
    assert rows() == everything
    assert rows(actor="bob") == 1
    assert rows(action="alert.acknowledged") == 2
    assert rows(since=(timezone.localdate() - timedelta(days=1)).isoformat()) == everything - 1
    assert rows(until=(timezone.localdate() - timedelta(days=5)).isoformat()) == 1
    assert rows(since="not a date") == everything  # an invalid filter is ignored, never a 500
    empty = client.get(url, {"actor": "nobody"}).content.decode()
    assert "No entries match these filters" in empty and "Nothing yet" not in empty


def test_the_audit_log_pages_fifty_entries_at_a_time(client, alice, project):
    from tracker.models import AuditLog
    from tracker.services import audit_record

    for n in range(60):
        audit_record(project=project, action="token.issued", user=alice, details={"n": n})
    total = AuditLog.objects.filter(project=project).count()
    client.force_login(alice)
    first = client.get(f"/{project.slug}/settings/audit/", {"action": "token.issued"}).content.decode()
    assert first.count('class="audit-row"') == 50 and "page=2" in first and "action=token.issued" in first
    second = client.get(f"/{project.slug}/settings/audit/", {"action": "token.issued", "page": 2}).content.decode()
    assert second.count('class="audit-row"') == 10 and total >= 60


def test_an_admin_creates_a_native_webhook_secret_shown_once(client, alice, project):
    from tracker.services import provider_secret

    client.force_login(alice)
    page = client.post(f"/{project.slug}/settings/webhooks/github/").content.decode()
    secret = provider_secret(project=project, provider="github")
    assert secret and secret in page
    assert secret not in client.get(f"/{project.slug}/settings/").content.decode()
    assert client.post(f"/{project.slug}/settings/webhooks/bitbucket/").status_code == 404


def test_a_bad_signing_requirement_is_refused_with_a_message(client, alice, project):
    client.force_login(alice)
    page = client.post(f"/{project.slug}/settings/signing-required/", {"required": "maybe"}, follow=True)
    assert "Not changed: required: Select a valid choice." in page.content.decode()
    project.refresh_from_db()
    assert not project.require_signed_webhooks


def test_the_release_scope_says_it_covers_promotions_as_well_as_rollbacks(client, alice, project):
    client.force_login(alice)
    page = client.get(f"/{project.slug}/settings/").content.decode()
    assert re.search(r'value="rollback"[^>]*>\s*Rollback and promotion', page), "the scope's checkbox label"
