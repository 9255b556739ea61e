"""The rollback endpoint's credentials stay with the receiver they were given for (issue 11, items 4 and 7).

A GitHub token set for one URL must never reach another receiver; the audit log and the settings overview,
which viewers read, show only the endpoint's host, because a URL's path or query often is a credential.
"""

from __future__ import annotations

import pytest

from rollbacks import services
from rollbacks.models import RollbackEndpoint
from tests.receiver import Receiver
from tests.rollbacks.rollback_world import history
from tracker import crypto
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db

GITHUB_TOKEN = "ghp_theGithubTokenOfTheOldReceiver"


def put(api, **body):
    response = api.put("/api/v1/rollback-endpoint", body, format="json")
    assert response.status_code == 200, response.content
    return response


def endpoint_page(project):
    return f"/{project.slug}/rollbacks/endpoint/"


def test_a_token_does_not_follow_a_url_change_to_another_receiver(api, project):
    with Receiver() as github, Receiver() as other:
        put(api, url=github.url("/repos/acme/ml/dispatches"), format="github", token=GITHUB_TOKEN)
        changed = put(api, url=other.url("/rollback"), format="generic")
        assert changed.json()["has_token"] is False
        world = history(project)
        rollback = services.rollback_request_create(deploy=world.v3, reason="p99 doubled")
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
        [sent] = other.wait_for(1)
    assert GITHUB_TOKEN not in str(sent.headers) and GITHUB_TOKEN.encode() not in sent.body
    assert github.requests == []
    assert RollbackEndpoint.objects.get().token_encrypted == ""


def test_a_format_change_at_the_same_url_drops_the_token_too(api, project):
    url = "http://127.0.0.1:9/hook"
    assert put(api, url=url, format="github", token=GITHUB_TOKEN).json()["has_token"] is True
    assert put(api, url=url, format="generic").json()["has_token"] is False


def test_a_new_token_given_with_the_new_url_is_kept(api, project):
    put(api, url="http://127.0.0.1:9/a", format="github", token=GITHUB_TOKEN)
    assert put(api, url="http://127.0.0.1:9/b", format="github", token="ghp_new").json()["has_token"] is True
    assert crypto.decrypt(RollbackEndpoint.objects.get().token_encrypted) == "ghp_new"


def test_an_unchanged_url_and_format_keep_the_token(api, project):
    url = "http://127.0.0.1:9/hook"
    put(api, url=url, format="github", token=GITHUB_TOKEN)
    assert put(api, url=url, format="github", ref="release").json()["has_token"] is True
    assert crypto.decrypt(RollbackEndpoint.objects.get().token_encrypted) == GITHUB_TOKEN


def test_a_receiver_on_another_host_gets_a_new_signing_secret_shown_once(api, project):
    first = put(api, url="http://127.0.0.1:9/hook", format="generic").json()["secret"]
    same_host = put(api, url="http://127.0.0.1:9/other-path", format="generic").json()
    assert "secret" not in same_host
    moved = put(api, url="http://127.0.0.2:9/hook", format="generic").json()
    assert moved["secret"].startswith("whsec_") and moved["secret"] != first
    assert crypto.decrypt(RollbackEndpoint.objects.get().secret_encrypted) == moved["secret"]
    given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    elsewhere = put(api, url="http://127.0.0.3:9/hook", format="generic", secret=given).json()
    assert "secret" not in elsewhere
    assert crypto.decrypt(RollbackEndpoint.objects.get().secret_encrypted) == given


def test_the_settings_page_drops_the_token_on_a_url_change_alike(client, alice, project):
    client.force_login(alice)
    form = {"url": "http://127.0.0.1:9/hook", "format": "github", "ref": "main", "event_type": "rollback.requested"}
    client.post(endpoint_page(project), {**form, "token": GITHUB_TOKEN})
    assert crypto.decrypt(RollbackEndpoint.objects.get().token_encrypted) == GITHUB_TOKEN
    client.post(endpoint_page(project), {**form, "url": "http://127.0.0.1:9/elsewhere", "format": "generic"})
    assert RollbackEndpoint.objects.get().token_encrypted == ""


SECRET_URL = "http://127.0.0.1:9/hooks/s3cr3t-path-credential?token=qu3ry-credential"


def test_viewers_see_only_the_endpoints_host_in_the_audit_log_and_on_the_settings_page(api, client, vera, project):
    put(api, url=SECRET_URL, format="generic")
    client.force_login(vera)
    for page in (f"/{project.slug}/settings/audit/", f"/{project.slug}/settings/"):
        html = client.get(page).content.decode()
        assert "s3cr3t" not in html and "qu3ry" not in html, page
        assert "http://127.0.0.1:9/…" in html, page
    entry = AuditLog.objects.get(action="rollback_endpoint.updated")
    assert "s3cr3t" not in str(entry.details) and entry.details["url_hint"] == "http://127.0.0.1:9/…"


def test_the_admin_only_endpoint_page_still_shows_the_full_url(client, alice, api, project):
    put(api, url=SECRET_URL, format="generic")
    client.force_login(alice)
    assert "s3cr3t-path-credential" in client.get(endpoint_page(project)).content.decode()


def test_the_migration_keeps_only_the_host_of_urls_in_older_audit_entries(project):
    from importlib import import_module

    from django.apps import apps

    old = AuditLog.objects.create(
        project=project, action="rollback_endpoint.updated", details={"url": SECRET_URL, "format": "generic"}
    )
    other = AuditLog.objects.create(project=project, action="channel.created", details={"url": "kept"})
    import_module("rollbacks.migrations.0002_audit_rollback_endpoint_url_hint").forward(apps, None)
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.details == {"url_hint": "http://127.0.0.1:9/…", "format": "generic"}
    assert other.details == {"url": "kept"}
