"""Production settings: `check --deploy` is clean under the README's production env, cookies are Secure on
their own switches (not only through the HTTPS redirect), and plain HTTP on 127.0.0.1 keeps working by default."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SHOWN = [
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
]


def readme_production_env() -> dict[str, str]:
    """The fenced block of the README that production adds to .env, with its placeholders filled in."""
    readme = (ROOT / "README.md").read_text()
    [block] = re.findall(r"```sh\n# production settings[^\n]*\n(.*?)```", readme, re.DOTALL)
    env = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    return {name: secrets.token_urlsafe(40) if value.startswith("<") else value for name, value in env.items()}


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tracker.settings", "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=False
    )


def settings_under(env: dict[str, str], tmp_path: Path) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {SHOWN!r}}}))"
    )
    result = run(["-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_check_deploy_is_clean_under_the_readmes_production_env(tmp_path) -> None:
    # The compose file sets DEBUG=0 and SECRET_KEY comes from the README's `echo SECRET_KEY=… > .env` line.
    env = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), **readme_production_env()}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_them(tmp_path) -> None:
    """The test above can fail: the same check under the defaults reports what the README's env fixes."""
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {"SECRET_KEY": secrets.token_urlsafe(50)},
        tmp_path,
    )
    assert result.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr + result.stdout, warning


def test_cookies_are_secure_behind_a_proxy_that_redirects_by_itself(tmp_path) -> None:
    shown = settings_under({"SECRET_KEY": "x" * 50, "SESSION_COOKIE_SECURE": "1", "CSRF_COOKIE_SECURE": "1"}, tmp_path)
    assert shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SESSION_COOKIE_SECURE"] is True and shown["CSRF_COOKIE_SECURE"] is True


def test_with_debug_off_plain_http_still_works_by_default(tmp_path) -> None:
    shown = settings_under({"DEBUG": "0", "SECRET_KEY": "x" * 50}, tmp_path)
    assert shown == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
    }


def test_the_https_redirect_still_marks_cookies_secure(tmp_path) -> None:
    shown = settings_under({"SECRET_KEY": "x" * 50, "SECURE_SSL_REDIRECT": "1"}, tmp_path)
    assert shown["SESSION_COOKIE_SECURE"] is True and shown["CSRF_COOKIE_SECURE"] is True


def test_every_production_setting_reaches_the_containers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    missing = set(readme_production_env()) - set(compose["x-app"]["environment"])
    assert not missing, f"docker-compose.yml does not pass these from .env: {sorted(missing)}"


@pytest.mark.django_db
def test_health_endpoints_answer_over_plain_http_behind_the_redirect(client, settings) -> None:
    """The container healthcheck and an in-network scrape call gunicorn directly, without the proxy's https."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/login/").status_code == 301
