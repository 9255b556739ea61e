"""OpenAPI post-processing: every operation documents the shared error shape for its 4xx answers."""

from __future__ import annotations

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
