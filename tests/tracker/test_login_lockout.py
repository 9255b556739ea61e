"""Password guessing on /login/ and /admin/login/ is locked out per username and client address, for a cool-down.

Before the guard, 30 wrong passwords and then the right one logged in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed log-ins"


def guess(client: Client, url: str, username: str, password: str, **extra) -> object:
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def test_twenty_five_wrong_passwords_lock_the_account_even_against_the_right_one(alice) -> None:
    client = Client()
    for _ in range(25):
        response = guess(client, "/login/", "alice", "not-her-password")
        assert response.status_code in (200, 429)
    response = guess(client, "/login/", "alice", "alice-password")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert logged_in_as(client) is None


def test_the_lock_lasts_for_the_cool_down_and_then_the_right_password_works(alice) -> None:
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            guess(client, "/login/", "alice", "wrong")
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME - timedelta(seconds=5), tick=False):
        assert guess(client, "/login/", "alice", "alice-password").status_code == 429
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=5), tick=False):
        assert guess(client, "/login/", "alice", "alice-password").status_code == 302
        assert logged_in_as(client) == "alice"


def test_the_locked_user_reads_why_and_for_how_long(alice) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = guess(client, "/login/", "alice", "wrong")
    assert response.status_code == 429
    page = response.content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert LOCKED in page and f"{minutes} minutes" in page
    assert "<html" in page  # the product's page, not a bare error


def test_a_few_typos_do_not_lock_and_a_success_forgets_them(alice) -> None:
    client = Client()
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert guess(client, "/login/", "alice", "typo").status_code == 200
        assert guess(client, "/login/", "alice", "alice-password").status_code == 302
        client.post("/logout/")


def test_another_user_on_the_same_client_is_not_locked(alice, bob) -> None:
    client = Client()
    for _ in range(25):
        guess(client, "/login/", "alice", "wrong")
    assert guess(client, "/login/", "bob", "bob-password").status_code == 302
    assert logged_in_as(client) == "bob"


def test_the_admin_login_is_locked_alike(db) -> None:
    User.objects.create_superuser("root", "root@example.com", "root-password-1")
    client = Client()
    for _ in range(25):
        guess(client, "/admin/login/", "root", "wrong")
    response = guess(client, "/admin/login/", "root", "root-password-1")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still sent to the login page
    # The lock is the account's on this client, whichever login page is used.
    assert guess(client, "/login/", "root", "root-password-1").status_code == 429


def test_a_forged_x_forwarded_for_does_not_dodge_the_lock(alice, settings) -> None:
    settings.TRUST_X_FORWARDED_FOR = False
    client = Client()
    for i in range(25):
        guess(client, "/login/", "alice", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert guess(client, "/login/", "alice", "alice-password", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_a_trusted_proxy_the_client_is_the_address_it_appended(alice, settings) -> None:
    settings.TRUST_X_FORWARDED_FOR = True
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for i in range(25):
        # What the client sends first is forgeable; the proxy appends the address it saw last.
        guess(proxy, "/login/", "alice", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.7")
    locked = guess(proxy, "/login/", "alice", "alice-password", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert locked.status_code == 429
    # Another client behind the same proxy is a different client.
    other = guess(proxy, "/login/", "alice", "alice-password", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert other.status_code == 302
    # A malformed header falls back to the proxy's own address instead of failing.
    assert guess(Client(), "/login/", "alice", "wrong", HTTP_X_FORWARDED_FOR="unknown, not-an-ip").status_code == 200


@pytest.mark.parametrize(
    "password", ["short1", "password123", "12345678901", "alice-example"], ids=["short", "common", "numeric", "similar"]
)
def test_django_password_validators_refuse_weak_passwords(alice, password) -> None:
    with pytest.raises(ValidationError):
        validate_password(password, user=alice)
