"""A URL whose methods are separate operations (one APIView each) still answers as one URL.

These answers were recorded from the URLs when one view served all their methods; routing each method to
its own APIView must not change them: the Allow header, OPTIONS, a 405 for a method the URL lacks.
"""

from __future__ import annotations

import pytest
from rest_framework.views import APIView

from tests.helpers import client_for
from tracker.operations import ApiOperations

pytestmark = pytest.mark.django_db

# path, Allow, OPTIONS name, OPTIONS description
URLS = [
    (
        "/api/v1/deploys",
        "GET, POST, HEAD, OPTIONS",
        "Deploy Collection Api",
        "One URL, two operations: GET lists (scope read), POST records (scope ingest).",
    ),
    (
        "/api/v1/channels",
        "GET, POST, HEAD, OPTIONS",
        "Channel Collection Api",
        "GET lists, POST creates; both need the admin scope.",
    ),
    ("/api/v1/channels/1", "GET, PATCH, DELETE, HEAD, OPTIONS", "Channel Detail Api", ""),
    ("/api/v1/alert-rules", "GET, POST, HEAD, OPTIONS", "Rule Collection Api", ""),
    (
        "/api/v1/silences",
        "GET, POST, HEAD, OPTIONS",
        "Silence Collection Api",
        "GET lists, POST creates; both need the rollback or the admin scope.",
    ),
    ("/api/v1/alert-rules/1", "PATCH, DELETE, OPTIONS", "Rule Detail Api", ""),
    ("/api/v1/rollback-endpoint", "GET, PUT, HEAD, OPTIONS", "Rollback Endpoint Api", ""),
]


@pytest.mark.parametrize(("path", "allow", "name", "description"), URLS)
def test_options_describes_the_url_with_all_its_methods(api, path, allow, name, description) -> None:
    response = api.options(path)
    assert response.status_code == 200 and response["Allow"] == allow
    assert response.json() == {
        "name": name,
        "description": description,
        "renders": ["application/json"],
        "parses": ["application/json"],
    }


@pytest.mark.parametrize(("path", "allow", "name", "description"), URLS)
def test_every_answer_names_all_the_urls_methods(api, path, allow, name, description) -> None:
    method = allow.split(", ")[0]
    response = api.generic(method, path, "{}", content_type="application/json")
    assert response["Allow"] == allow, (method, response.status_code)


def test_a_method_the_url_lacks_is_a_405_in_the_error_shape(api) -> None:
    for path, method in (("/api/v1/deploys", "PUT"), ("/api/v1/alert-rules/1", "GET")):
        response = api.generic(method, path)
        assert response.status_code == 405 and response.json() == {
            "error": {"code": "method_not_allowed", "message": f'Method "{method}" not allowed.', "fields": {}}
        }


def test_a_method_the_url_lacks_is_guarded_by_its_get_operations_scope(project, make_token) -> None:
    ingest_only = client_for(make_token(project, ["ingest"]))
    assert ingest_only.put("/api/v1/deploys", {}, format="json").status_code == 403
    assert client_for(make_token(project, ["read"])).put("/api/v1/deploys", {}, format="json").status_code == 405
    assert client_for(None).options("/api/v1/deploys").status_code == 401


def test_head_is_the_get_operation_without_a_body(api) -> None:
    response = api.head("/api/v1/deploys")
    assert response.status_code == 200 and response.content == b""


def test_an_operation_serves_one_url_only() -> None:
    class ThingListApi(APIView):
        pass

    class ThingCollectionApi(ApiOperations):
        operations = {"get": ThingListApi}

    with pytest.raises(AssertionError, match="ThingListApi already serves ThingCollectionApi"):

        class OtherThingsApi(ApiOperations):
            operations = {"get": ThingListApi}
