"""Every /api/v1 answer a test receives through Django's test client (DRF's APIClient included) is validated
against the OpenAPI schema served at /api/schema/, by openapi-core; a test that received an answer the schema
does not describe fails, naming the request and what does not match.

Loaded as a plugin by tests/conftest.py. Answers to URLs that match no route, OPTIONS and HEAD answers, and
error-shaped refusals of a method a route does not have describe no operation and are not checked further; any
other answer the schema does not list (an undocumented status, an undocumented operation) is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache

import pytest
from django.test import Client
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound

API_PREFIX = "/api/v1/"
_mismatches: list[str] = []


@cache
def served_schema() -> OpenAPI:
    """The schema as /api/schema/ serves it (JSON), loaded once per session."""
    response = Client().get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    return OpenAPI.from_dict(json.loads(response.content))


def check(response) -> None:
    request = getattr(response, "wsgi_request", None)
    if request is None or not request.path.startswith(API_PREFIX) or request.resolver_match is None:
        return
    try:
        served_schema().validate_response(DjangoOpenAPIRequest(request), DjangoOpenAPIResponse(response))
    except OperationNotFound as problem:
        if not _framework_answer(request.method, response):
            _mismatches.append(f"{request.method} {request.get_full_path()} → {response.status_code}: {problem}")
    except Exception as problem:  # every kind of mismatch openapi-core reports is a finding
        details = "; ".join(str(error) for error in getattr(problem, "schema_errors", ())[:5]) or ""
        _mismatches.append(
            f"{request.method} {request.get_full_path()} → {response.status_code}: {problem!r} {details}\n"
            f"    body: {response.content[:600]!r}"
        )


def _framework_answer(method: str, response) -> bool:
    """An answer to a method no operation documents: OPTIONS and HEAD (DRF's metadata, GET without a body), or
    another method the URL lacks, which must be refused in the one error shape (a 405, or a 401/403 when the
    URL's guard speaks first)."""
    if method in ("OPTIONS", "HEAD"):
        return True
    if not 400 <= response.status_code < 500:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"code", "message", "fields"} <= set(error)


@pytest.fixture(autouse=True)
def _every_api_response_matches_the_schema(monkeypatch) -> Iterator[None]:
    original = Client.request

    def request(self, **kwargs):
        response = original(self, **kwargs)
        check(response)
        return response

    monkeypatch.setattr(Client, "request", request)
    _mismatches.clear()
    yield
    if _mismatches:
        found = list(_mismatches)
        _mismatches.clear()
        pytest.fail("answers the OpenAPI schema does not describe:\n" + "\n".join(found), pytrace=False)
