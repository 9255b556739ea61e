"""OpenAPI post-processing: every operation documents the shared error shape for its 4xx answers."""

from __future__ import annotations

import re

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from tracker.operations import ApiOperations, url_operations_of

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. invalid, not_found"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Invalid input (fields says which)",
    "401": "Missing, unknown or revoked token, or a bad signature",
    "403": "The token lacks the scope",
    "404": "No such object in the token's project",
    "405": "Method not allowed",
    "409": "Conflict with the stored state",
    "413": "Body over the size limit",
    "415": "Unsupported media type",
    "422": "Idempotency key reused with another body",
    "429": "Rate limited",
}

# The Standard Webhooks headers of a signed request (tracker.auth.signed_body_check), on every operation that
# checks them. Optional unless the project requires signed requests.
SIGNATURE_HEADERS = [
    OpenApiParameter(
        "webhook-id",
        str,
        OpenApiParameter.HEADER,
        description="Standard Webhooks message id: 1-200 visible ASCII characters without `.`; processed once "
        "(a replay is a 409 `webhook_replayed`)",
    ),
    OpenApiParameter(
        "webhook-timestamp",
        str,
        OpenApiParameter.HEADER,
        description="Standard Webhooks timestamp: Unix seconds (ASCII digits), within 5 minutes of the server's clock",
    ),
    OpenApiParameter(
        "webhook-signature",
        str,
        OpenApiParameter.HEADER,
        description='Standard Webhooks signature(s), space-separated: `v1,<base64 HMAC-SHA256 of "{webhook-id}.'
        "{webhook-timestamp}.{raw body}\">` with the project's `whsec_` secret; required when the project "
        "requires signed requests",
    ),
]


def outbound_webhook(*, summary: str, description: str, body: dict) -> dict:
    """An OpenAPI 3.1 `webhooks` entry: a request Deploy Tracker sends, signed with the Standard Webhooks headers
    (`webhook-id` stays the same on every retry of one delivery)."""
    headers = [
        ("webhook-id", "the delivery's stable id, the same on every retry: deduplicate on it"),
        ("webhook-timestamp", "Unix seconds when this attempt was signed"),
        (
            "webhook-signature",
            'v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}"> with the secret',
        ),
    ]
    return {
        "post": {
            "summary": summary,
            "description": description,
            "parameters": [
                {"in": "header", "name": name, "required": True, "schema": {"type": "string"}, "description": text}
                for name, text in headers
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "2XX": {
                    "description": "received; any other answer is retried with backoff (a 410 disables the channel)"
                }
            },
        }
    }


def add_error_responses(result: dict, generator, request, public) -> dict:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, description in ERROR_STATUSES.items():
                operation["responses"].setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result


def any_value_may_be_null(result: dict, generator, request, public) -> dict:
    """OpenAPI 3.1: drf-spectacular writes a nullable field of any type as oneOf [{}, {"type": "null"}], which
    no null satisfies (it matches both branches). Any value already includes null: keep the field's other
    keywords and drop the oneOf."""

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if any(branch == {} for branch in node.get("oneOf", ())):
                del node["oneOf"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result


def operations_split(endpoints: list[tuple]) -> list[tuple]:
    """A URL served by ApiOperations is documented operation by operation, each from its own view."""
    split = []
    for path, path_regex, method, callback in endpoints:
        url = getattr(callback, "cls", None)
        if isinstance(url, type) and issubclass(url, ApiOperations):
            callback = url.callbacks[method.lower()]
        split.append((path, path_regex, method, callback))
    return split


def list_response(item: type[serializers.Serializer], *, paginated: bool = False) -> serializers.Serializer:
    """The documented shape of a list answer: {"results": [...]}, plus next/previous links when paginated."""
    fields: dict = {"results": item(many=True)}
    if paginated:
        fields |= {"next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True)}
    name = item.__name__.removesuffix("Serializer")
    return inline_serializer(name=f"{name}{'Page' if paginated else 'List'}", fields=fields)


class AutoSchema(openapi.AutoSchema):
    """Names that stay unique across views: nested Input/Output/Filter serializers take their view's name,
    and operation ids come from the URL's view class (DeployCollectionApi + GET → deploy_collection_get),
    which for one served by ApiOperations is the URL class, not the operation's own view."""

    NESTED = ("InputSerializer", "OutputSerializer", "FilterSerializer", "RowSerializer")

    def get_operation_id(self) -> str:
        view = url_operations_of(type(self.view)) or type(self.view)
        view_name = view.__name__.removesuffix("Api")
        return re.sub(r"(?<!^)(?=[A-Z])", "_", view_name).lower() + "_" + self.method.lower()

    def get_description(self) -> str:
        """The operation's own docstring, else its URL class's (which may describe all its operations)."""
        url = url_operations_of(type(self.view))
        return super().get_description() or (get_doc(url) if url else "")

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        klass = serializer if isinstance(serializer, type) else type(serializer)
        if klass.__name__ in self.NESTED and "." in klass.__qualname__:
            return klass.__qualname__.split(".")[0].removesuffix("Api") + name
        return name


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tracker.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "a project API token (dtk_…) with the scope named"}


class ClosedRequestBody(OpenApiSerializerExtension):
    """Bodies that refuse unknown fields say so (`additionalProperties: false`): the truth, and it keeps API
    fuzzers from inventing free-form extra properties."""

    target_class = "tracker.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
