"""OpenAPI: the native provider webhooks authenticate by their provider's own headers, declared here (a
postprocessing hook, so the webhook views stay about handling events)."""

from __future__ import annotations

WEBHOOKS = "/api/v1/webhooks/"


def _header(name: str, description: str, required: bool = False) -> dict:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


PROVIDERS = {
    "github": (
        "A GitHub `deployment_status` or `deployment` event (a repository or organisation webhook)",
        [
            _header("X-Hub-Signature-256", "`sha256=<hex HMAC-SHA256 of the raw body with the hook's secret>`", True),
            _header("X-GitHub-Event", "the event name: `deployment_status` or `deployment`; others are ignored", True),
            _header("X-GitHub-Delivery", "the delivery's GUID: a redelivery of it is processed once"),
        ],
    ),
    "gitlab": (
        "A GitLab Deployment Hook event (a project or group webhook)",
        [
            _header("X-Gitlab-Token", "the hook's secret token, as configured in GitLab", True),
            _header("X-Gitlab-Event", "the event name: `Deployment Hook`"),
            _header("X-Gitlab-Event-UUID", "the id GitLab gives each request"),
            _header("Idempotency-Key", "GitLab's stable key for a delivery and its retries"),
        ],
    ),
    "mlflow": (
        "An MLflow model-registry webhook event (`model_version.created`, `model_version_alias.created`, …)",
        [
            _header("X-MLflow-Signature", '`v1,<base64 HMAC-SHA256 of "{delivery id}.{timestamp}.{raw body}">`', True),
            _header("X-MLflow-Delivery-Id", "the delivery's id: processed once", True),
            _header("X-MLflow-Timestamp", "Unix seconds of the delivery, within 5 minutes", True),
        ],
    ),
}


def provider_headers(result: dict, generator, request, public) -> dict:
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(WEBHOOKS):
            continue
        provider = path.removeprefix(WEBHOOKS).split("/", 1)[0]
        if provider not in PROVIDERS:
            continue
        summary, headers = PROVIDERS[provider]
        for operation in operations.values():
            operation.setdefault("summary", summary)
            names = {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}
            operation.setdefault("parameters", []).extend(
                h for h in headers if ("header", h["name"].lower()) not in names
            )
    return result
