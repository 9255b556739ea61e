"""Native webhooks: GitHub deployments, GitLab deployment events, MLflow model-registry events.

They cannot send our bearer token, so the URL names the project and the provider's own signature
authenticates the body. Each maps onto the same deploy event (and the same validation) as POST /deploys.

A valid, authenticated provider event is never refused with a 4xx: providers disable hooks that keep
failing (GitLab after four failures in a row). What moves a deploy forward is applied; the rest (a late
status, a payload field we cannot use, an event that is not a deploy) is recorded and ignored, and the
answer says which and why: `{"applied": [...], "ignored": [{"what", "reason"}], "deploy": {...} | null}`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import providers
from deployments.api import DeployCreateApi, DeployOutputSerializer, deploy_event
from deployments.hook_services import alias_removal_record, hook_settings_get, model_lineage, model_version_record
from deployments.models import HookSettings
from deployments.selectors import deploy_get
from deployments.services import Recorded, provider_event_record
from tracker import signing
from tracker.api_errors import ApiError
from tracker.counters import event_count
from tracker.idempotency import body_hash, run_once
from tracker.services import provider_hook_find

# Fields a deploy event cannot do without: an event whose own fields fail here is not one we understand.
_REQUIRED = ("service", "environment", "version")


class IgnoredPartSerializer(serializers.Serializer):
    what = serializers.CharField()
    reason = serializers.CharField()


class WebhookAnswerSerializer(serializers.Serializer):
    applied = serializers.ListField(child=serializers.CharField(), help_text="what the event changed")
    ignored = IgnoredPartSerializer(many=True, help_text="what the event said that was not applied, and why")
    deploy = DeployOutputSerializer(allow_null=True, help_text="the deploy as now stored, if the event had one")


WEBHOOKS_REJECTED = "deploy_tracker_webhooks_rejected"
# The codes a provider webhook is refused with (exported as 0 until they happen; any other still counts).
REJECTION_REASONS = (
    "signature_invalid",
    "signature_stale",
    "malformed_body",
    "invalid",
    "idempotency_conflict",
    "idempotency_key_reused",
    "body_too_large",
    "unsupported_media_type",
)


class ProviderWebhookApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # The raw body is what the provider signed: it is read as bytes, never through DRF's parsers.
    parser_classes: list = []
    # Subclasses name the provider and its delivery-id header, and define verify() and mapper().
    provider = ""
    delivery_header = ""
    verify: Callable[[Request, str], bool]
    mapper: Callable[[Request, dict, HookSettings], providers.Mapped]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            200: OpenApiResponse(WebhookAnswerSerializer, description="a deploy updated (or lineage recorded)"),
            201: OpenApiResponse(WebhookAnswerSerializer, description="a deploy created"),
            202: OpenApiResponse(WebhookAnswerSerializer, description="not a deploy event: recorded as ignored"),
        },
    )
    def post(self, request: Request, project_slug: str) -> Response:
        self.check_fresh(request)
        found = provider_hook_find(project_slug=project_slug, provider=self.provider)
        # An unknown project, one without this provider's secret and a wrong signature answer alike (the
        # check runs against a throwaway secret), so the URL does not reveal which project slugs exist.
        verified = self.verify(request, found[1] if found else secrets.token_urlsafe(32))
        if found is None or not verified:
            message = f"the {self.provider} signature does not match the body (or no {self.provider} secret is set)"
            raise ApiError("signature_invalid", message, 401)
        project = found[0]
        parsed = self.parse(request)
        try:
            mapped = self.mapper(request, parsed, hook_settings_get(project=project))
        except providers.Ignored as exc:
            return Response({"applied": [], "ignored": [{"what": "event", "reason": str(exc)}], "deploy": None}, 202)
        except providers.BadPayload as exc:
            raise ApiError("invalid", f"not a {self.provider} event we understand: {exc}", 400) from None
        if mapped.action == "deploy":
            mapped.ignored.extend(_validated(mapped, self.provider))

        def handler() -> tuple[int, dict]:
            return _answer(self.record(project, mapped), mapped)

        delivery = request.headers.get(self.delivery_header, "")[:200]
        if not delivery:
            status, body = handler()
        else:
            status, body = run_once(
                project=project,
                kind=f"{self.provider}-delivery",
                key=delivery,
                request_hash=body_hash(request._request.body),
                handler=handler,
            )
        return Response(body, status=status)

    def finalize_response(self, request: Request, response: Response, *args: object, **kwargs: object) -> Response:
        if response.status_code >= 400 and isinstance(response.data, dict):
            reason = str(response.data.get("error", {}).get("code", "unknown"))
            event_count(WEBHOOKS_REJECTED, provider=self.provider, reason=reason)
        return super().finalize_response(request, response, *args, **kwargs)

    def check_fresh(self, request: Request) -> None:
        """Providers whose signature covers a timestamp refuse a stale one before anything else."""

    def parse(self, request: Request) -> dict:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in ("application/json", ""):
            raise ApiError(
                "unsupported_media_type",
                f"send the {self.provider} webhook as application/json (its content type setting)",
                415,
            )
        return _json_object(request._request.body)

    def record(self, project: Any, mapped: providers.Mapped) -> Recorded:
        event = deploy_event(mapped.event)
        return provider_event_record(
            project=project, source=self.provider, event=event, production=mapped.production, note=mapped.note
        )


def _json_object(raw: bytes | str) -> dict:
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ApiError("malformed_body", "the body is not JSON", 400) from None
    if not isinstance(parsed, dict):
        raise ApiError("malformed_body", "the body is not a JSON object", 400)
    return parsed


def _validated(mapped: providers.Mapped, provider: str) -> list[dict[str, str]]:
    """Validate the event as POST /deploys would; a field that fails is dropped (or falls back) and reported."""
    serializer = DeployCreateApi.InputSerializer(data=mapped.event)
    ignored: list[dict[str, str]] = []
    while not serializer.is_valid():
        errors = serializer.errors
        failing = next((name for name in _REQUIRED if name in errors), None)
        if failing is None and not set(errors) & set(mapped.event):
            raise ApiError("invalid", f"not a {provider} event we understand", 400, _flat(errors))
        if failing is None:
            # Only optional fields fail: drop them all at once.
            ignored += [{"what": name, "reason": "; ".join(_messages(errors[name]))} for name in sorted(errors)]
            event = {key: value for key, value in mapped.event.items() if key not in errors}
        elif failing in mapped.fallbacks:
            # A payload's own value for a required field (a GitHub deployment payload's version) gives way to
            # the provider's (the commit): the deploy is still stored, and the answer says so.
            ignored.append({"what": failing, "reason": "; ".join(_messages(errors[failing]))})
            event = {**mapped.event, failing: mapped.fallbacks.pop(failing)}
        else:
            fields = {name: [str(m) for m in errors[name]] for name in _REQUIRED if name in errors}
            raise ApiError("invalid", f"not a {provider} event we understand", 400, fields)
        mapped.event = event
        serializer = DeployCreateApi.InputSerializer(data=event)
    mapped.event = serializer.validated_data
    return ignored


def _flat(errors: dict) -> dict[str, list[str]]:
    return {str(name): _messages(detail) for name, detail in errors.items()}


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {m}" for key, value in detail.items() for m in _messages(value)]
    if isinstance(detail, list):
        return [m for item in detail for m in _messages(item)]
    return [str(detail)]


def _answer(recorded: Recorded, mapped: providers.Mapped) -> tuple[int, dict]:
    deploy = DeployOutputSerializer(deploy_get(deploy_id=recorded.deploy.pk)).data if recorded.deploy else None
    status = 201 if recorded.created else (200 if recorded.applied else 202)
    return status, {"applied": recorded.applied, "ignored": mapped.ignored + recorded.ignored, "deploy": deploy}


class GithubWebhookApi(ProviderWebhookApi):
    """GitHub `deployment` and `deployment_status` events (`X-Hub-Signature-256`, dedupe on `X-GitHub-Delivery`)."""

    provider = "github"
    delivery_header = "X-GitHub-Delivery"

    @extend_schema(
        request={"application/json": {"type": "object"}, "application/x-www-form-urlencoded": {"type": "object"}},
        parameters=[
            OpenApiParameter("X-Hub-Signature-256", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-GitHub-Event", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-GitHub-Delivery", str, OpenApiParameter.HEADER),
        ],
        responses={200: WebhookAnswerSerializer, 201: WebhookAnswerSerializer, 202: WebhookAnswerSerializer},
    )
    def post(self, request: Request, project_slug: str) -> Response:
        return super().post(request, project_slug)

    def verify(self, request: Request, secret: str) -> bool:
        header = request.headers.get("X-Hub-Signature-256", "")
        return bool(header) and signing.github_verify(secret, header, request._request.body)

    def parse(self, request: Request) -> dict:
        # GitHub's default content type sends the JSON as the form field `payload`; the signature covers the
        # form body as sent, which verify() has already checked.
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(request._request.body.decode("utf-8", "replace"))
            if "payload" not in form:
                raise ApiError("malformed_body", "a form-encoded GitHub delivery carries the field `payload`", 400)
            return _json_object(form["payload"][0])
        return super().parse(request)

    def mapper(self, request: Request, body: dict, settings: HookSettings) -> providers.Mapped:
        kind = request.headers.get("X-GitHub-Event", "")
        if kind == "deployment_status":
            return providers.github_deployment_status(body, settings.service_names)
        if kind == "deployment":
            return providers.github_deployment(body, settings.service_names)
        raise providers.Ignored(f"GitHub event {kind or 'without X-GitHub-Event'} is not a deployment event")


class GitlabWebhookApi(ProviderWebhookApi):
    """GitLab Deployment Hook (`X-Gitlab-Token`; dedupe on GitLab's stable retry key `Idempotency-Key`).

    `X-Gitlab-Event-UUID` is no key: GitLab shares it across the hooks fired by one request.
    """

    provider = "gitlab"
    delivery_header = "Idempotency-Key"

    @extend_schema(
        request={"application/json": {"type": "object"}},
        parameters=[
            OpenApiParameter("X-Gitlab-Token", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Gitlab-Event", str, OpenApiParameter.HEADER),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER),
        ],
        responses={200: WebhookAnswerSerializer, 201: WebhookAnswerSerializer, 202: WebhookAnswerSerializer},
    )
    def post(self, request: Request, project_slug: str) -> Response:
        return super().post(request, project_slug)

    def verify(self, request: Request, secret: str) -> bool:
        header = request.headers.get("X-Gitlab-Token", "")
        return bool(header) and providers.gitlab_verify(secret, header)

    def mapper(self, request: Request, body: dict, settings: HookSettings) -> providers.Mapped:
        return providers.gitlab_deployment(body, settings.service_names)


class MlflowWebhookApi(ProviderWebhookApi):
    """MLflow model-registry webhooks (`X-MLflow-Signature` over delivery id, timestamp and body)."""

    provider = "mlflow"
    delivery_header = "X-MLflow-Delivery-Id"

    @extend_schema(
        request={"application/json": {"type": "object"}},
        parameters=[
            OpenApiParameter("X-MLflow-Signature", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Delivery-Id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Timestamp", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={200: WebhookAnswerSerializer, 201: WebhookAnswerSerializer, 202: WebhookAnswerSerializer},
    )
    def post(self, request: Request, project_slug: str) -> Response:
        return super().post(request, project_slug)

    def check_fresh(self, request: Request) -> None:
        # The timestamp says nothing about the project, so a stale one is named before any lookup.
        timestamp = request.headers.get("X-MLflow-Timestamp", "")
        if timestamp and not providers.mlflow_fresh(timestamp):
            raise ApiError(
                "signature_stale", "X-MLflow-Timestamp is more than 5 minutes from now (a replay, or a clock off)", 401
            )

    def verify(self, request: Request, secret: str) -> bool:
        headers = request.headers
        signature = headers.get("X-MLflow-Signature", "")
        delivery, timestamp = headers.get("X-MLflow-Delivery-Id", ""), headers.get("X-MLflow-Timestamp", "")
        if not (signature and delivery and timestamp):
            return False
        return providers.mlflow_verify(secret, signature, delivery, timestamp, request._request.body)

    def mapper(self, request: Request, body: dict, settings: HookSettings) -> providers.Mapped:
        return providers.mlflow_event(body, settings.service_names, settings.mlflow_environments)

    def record(self, project: Any, mapped: providers.Mapped) -> Recorded:
        event = mapped.event
        if mapped.action == "model_version_created":
            return model_version_record(project=project, **event)
        if mapped.action == "alias_deleted":
            name, alias = event["name"], event["alias"]
            prefix = providers.mlflow_alias_external_id(name, alias, "")
            return alias_removal_record(project=project, external_id_prefix=prefix, alias=alias, name=name)
        deploy = deploy_event(event)
        deploy.update(model_lineage(project=project, name=deploy["model_name"], version=deploy["model_version"]))
        return provider_event_record(
            project=project, source=self.provider, event=deploy, production=mapped.production, note=mapped.note
        )
