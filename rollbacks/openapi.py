"""OpenAPI: the security scheme of the rollback callback (registered with drf-spectacular in
RollbacksConfig.ready), and what the rollback endpoint receives (rollback and promotion requests) in the generic format
(rollbacks.payloads.generic_body) as a documented webhook (a postprocessing hook). The GitHub and GitLab formats
carry the same facts in those systems' own request shapes (docs/rollbacks.md)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from tracker.openapi import outbound_webhook


class RollbackCallbackScheme(OpenApiAuthenticationExtension):
    target_class = "rollbacks.api.CallbackTokenAuthentication"
    name = "rollbackCallbackToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "the rollback request's one-time callback token"}


_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
MODEL = {
    "type": ["object", "null"],
    "properties": {"name": _TEXT, "version": _TEXT, "uri": _TEXT, "digest": _TEXT},
}
DEPLOY = {
    "type": "object",
    "required": ["id", "version", "commit_sha", "ref", "model", "url"],
    "properties": {
        "id": {"type": "integer"},
        "version": _TEXT,
        "commit_sha": _TEXT,
        "ref": _TEXT,
        "model": MODEL,
        "url": _TEXT,
    },
}
ROLLBACK_REQUESTED = {
    "type": "object",
    "required": [
        "type",
        "rollback_id",
        "project",
        "service",
        "environment",
        "current",
        "target",
        "reason",
        "requested_by",
        "requested_at",
        "expires_at",
        "callback",
    ],
    "properties": {
        "type": {"const": "rollback.requested"},
        "rollback_id": _TEXT,
        "project": _TEXT,
        "service": _TEXT,
        "environment": _TEXT,
        "current": {**DEPLOY, "description": "the deploy to roll back"},
        "target": {**DEPLOY, "description": "the deploy to go back to"},
        "reason": _TEXT,
        "requested_by": _TEXT,
        "requested_at": _TIME,
        "expires_at": {**_TIME, "description": "report a final status before this, or the request expires"},
        "callback": {
            "type": "object",
            "required": ["url", "token", "statuses"],
            "properties": {
                "url": {"type": "string", "description": "POST the progress here (POST /api/v1/rollbacks/{id}/status)"},
                "token": {
                    "type": "string",
                    "description": "send as `Authorization: Bearer <token>`; this request only",
                },
                "statuses": {"type": "array", "items": _TEXT},
            },
        },
    },
}


_ROLLBACK_ONLY = {"rollback_id", "current", "target"}
PROMOTION_REQUESTED = {
    "type": "object",
    "required": [
        "promotion_id" if key == "rollback_id" else {"current": "deploy", "target": "baseline"}.get(key, key)
        for key in ROLLBACK_REQUESTED["required"]
    ],
    "properties": {
        **{k: v for k, v in ROLLBACK_REQUESTED["properties"].items() if k not in _ROLLBACK_ONLY},
        "type": {"const": "promotion.requested"},
        "promotion_id": _TEXT,
        "deploy": {**DEPLOY, "description": "the canary, A/B or shadow deploy to give all the traffic"},
        "baseline": {**DEPLOY, "description": "the deploy whose traffic it takes over"},
        "callback": {
            **ROLLBACK_REQUESTED["properties"]["callback"],
            "properties": {
                **ROLLBACK_REQUESTED["properties"]["callback"]["properties"],
                "url": {
                    "type": "string",
                    "description": "POST the progress here (POST /api/v1/promotions/{id}/status)",
                },
            },
        },
    },
}


def rollback_webhook(result: dict, generator, request, public) -> dict:
    result.setdefault("webhooks", {})["rollback.requested"] = outbound_webhook(
        summary="A rollback request, to the project's rollback endpoint (generic format)",
        description="Sent when someone requests a rollback, signed with the endpoint's `whsec_` secret and retried "
        "with backoff until the endpoint answers 2xx or the request expires; `webhook-id` is the rollback id.",
        body=ROLLBACK_REQUESTED,
    )
    result["webhooks"]["promotion.requested"] = outbound_webhook(
        summary="A promotion request, to the project's rollback (release) endpoint (generic format)",
        description="Sent when someone promotes a canary, A/B or shadow deploy, signed and retried like a rollback "
        "request; `webhook-id` is the promotion id. CI's callback `succeeded` completes it.",
        body=PROMOTION_REQUESTED,
    )
    return result
