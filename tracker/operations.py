"""One URL, several operations: each HTTP method of the URL is served by its own APIView.

`/api/v1/deploys` lists on GET (scope read) and records on POST (scope ingest). Each operation is its own
`<Entity><Action>Api` with its own permission and serializers; the URL's class only routes:

    class DeployCollectionApi(ApiOperations):
        operations = {"get": DeployListApi, "post": DeployCreateApi}

The URL's class names the operations in the OpenAPI document (`deploy_collection_get`) and its docstring
describes those without their own; `tracker.openapi.operations_split` documents each operation from its own
view. What the URL answers as a whole stays the URL's: the `Allow` header, OPTIONS, and a 405 for a method it
lacks (checked with the permission of its GET operation, else of its first).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse
from rest_framework.views import APIView

# Which URL class serves each operation's view: an operation belongs to exactly one URL.
_url_of: dict[type[APIView], type[ApiOperations]] = {}


class ApiOperations(APIView):
    operations: ClassVar[dict[str, type[APIView]]] = {}
    callbacks: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method, view in cls.operations.items():
            assert method in cls.http_method_names and method not in ("head", "options"), method
            assert _url_of.setdefault(view, cls) is cls, f"{view.__name__} already serves {_url_of[view].__name__}"
        cls.callbacks = {method: view.as_view() for method, view in cls.operations.items()}
        if "get" in cls.callbacks:
            cls.callbacks["head"] = cls.callbacks["get"]

    @property
    def allowed_methods(self) -> list[str]:
        return [m.upper() for m in self.http_method_names if m in self.callbacks or m == "options"]

    def _fallback(self) -> type[APIView]:
        """The operation whose authentication and permission guard OPTIONS and the methods the URL lacks."""
        return self.operations.get("get") or next(iter(self.operations.values()))

    def get_authenticators(self) -> list:
        return [auth() for auth in self._fallback().authentication_classes]

    def get_permissions(self) -> list:
        return [permission() for permission in self._fallback().permission_classes]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        callback = self.callbacks.get(request.method.lower())
        if callback is None:
            # OPTIONS, or a method this URL lacks: answered by the URL itself (metadata, or a 405).
            return super().dispatch(request, *args, **kwargs)
        response = callback(request, *args, **kwargs)
        response["Allow"] = ", ".join(self.allowed_methods)
        return response


def url_operations_of(view: type[APIView]) -> type[ApiOperations] | None:
    """The URL class that routes to this operation's view, if any."""
    return _url_of.get(view)
