"""The Content-Security-Policy header: on every kind of answer, with the directives the pages rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.template import engines

ROOT = Path(__file__).resolve().parents[2]
STRICT = {
    "default-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in ((p[0], p[1] if len(p) > 1 else "") for p in parts)}


def assert_strict(header: str) -> dict[str, str]:
    policy = directives(header)
    assert {name: policy.get(name) for name in STRICT} == STRICT
    for name in ("script-src", "style-src"):
        sources = policy[name].split()
        assert sources[0] == "'self'"
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "https:"} & set(sources), policy[name]
    assert "'unsafe-eval'" not in header and "'unsafe-inline'" not in header
    return policy


@pytest.mark.django_db
def test_the_login_page_carries_the_strict_policy(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert_strict(response.headers["Content-Security-Policy"])
    assert "Content-Security-Policy-Report-Only" not in response.headers


@pytest.mark.django_db
def test_project_pages_the_api_and_its_docs_carry_it_too(client, alice, project, api):
    client.force_login(alice)
    for path in (f"/{project.slug}/", f"/{project.slug}/settings/", "/api/docs/", "/api/docs/?script="):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response.headers["Content-Security-Policy"])
    assert_strict(api.get("/api/v1/deploys").headers["Content-Security-Policy"])


@pytest.mark.django_db
def test_the_api_docs_init_script_is_a_script_url_not_an_inline_block(client):
    page = client.get("/api/docs/").content.decode()
    assert '<script src="/api/docs/?script=' in page
    assert "<script>" not in page and "<style>" not in page
    script = client.get("/api/docs/?script=")
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
def test_a_nonce_is_added_when_a_template_uses_it_and_differs_per_request(rf):
    template = engines["django"].from_string('<script nonce="{{ request.csp_nonce }}">1</script>')

    def view(request):
        return HttpResponse(template.render({}, request))

    nonces = []
    for _ in range(2):
        response = CSPMiddleware(view)(rf.get("/"))
        policy = directives(response.headers["Content-Security-Policy"])
        nonce = policy["script-src"].split("'nonce-")[1].rstrip("'")
        assert f'nonce="{nonce}"' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_the_report_only_switch_sends_the_same_policy_without_enforcing_it():
    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz', HTTP_HOST='localhost'); "
        "print(r.headers.get('Content-Security-Policy')); print(r.headers['Content-Security-Policy-Report-Only'])"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
        "DATABASE_URL": "sqlite:///:memory:",
        "CSP_REPORT_ONLY": "1",
        "CSP_REPORT_URI": "https://reports.example/csp",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    enforced, report_only = result.stdout.splitlines()[-2:]
    assert enforced == "None"
    assert assert_strict(report_only)["report-uri"] == "https://reports.example/csp"
