"""Every request body over its limit is a 413 before anything reads it: pages and the admin too, not only /api/.

Before, the limit held only under /api/: a 3 MB log-in POST was read and answered (Django's own cap had to
admit the 16 MB ingest limit, so it guarded nothing elsewhere)."""

from __future__ import annotations

import pytest

from alerts.models import Silence
from tests.helpers import error_code

pytestmark = pytest.mark.django_db

THREE_MB = "x" * (3 * 1024 * 1024)


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/logout/", "/alpha/alerts/silences/"])
def test_a_page_post_over_the_limit_is_a_413(client, bob, project, path):
    client.force_login(bob)
    response = client.post(path, {"matchers": "service=x", "hours": "4", "comment": THREE_MB})
    assert response.status_code == 413
    assert not Silence.objects.exists()


def test_a_page_post_under_the_limit_is_read(client, alice, settings):
    body = {"username": "alice", "password": "wrong", "padding": "x" * (settings.MAX_BODY_BYTES - 1000)}
    assert client.post("/login/", body).status_code == 200


def test_the_limit_follows_the_setting(client, alice, settings):
    settings.MAX_BODY_BYTES = 1000
    assert client.post("/login/", {"username": "alice", "password": "x" * 1000}).status_code == 413


def test_an_api_body_over_the_limit_keeps_the_error_shape(api, project):
    response = api.post("/api/v1/silences", {"comment": THREE_MB}, format="json")
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"
