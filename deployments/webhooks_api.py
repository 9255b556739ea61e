"""Native webhooks: GitHub deployment_status, GitLab deployment events, MLflow model-registry aliases.

They cannot send our bearer token, so the URL names the project and the provider's own signature
authenticates the body. Each maps onto the same deploy event (and the same validation) as POST /deploys.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import providers
from deployments.api import DeployCreateApi, DeployOutputSerializer, deploy_event, deploy_recorded_answer
from deployments.services import deploy_record
from tracker import signing
from tracker.api_errors import ApiError
from tracker.counters import event_count
from tracker.idempotency import body_hash, run_once
from tracker.services import provider_hook_find


class WebhookAnswerSerializer(serializers.Serializer):
    ignored = serializers.CharField(required=False)


WEBHOOKS_REJECTED = "deploy_tracker_webhooks_rejected"
# The codes a provider webhook is refused with (exported as 0 until they happen; any other still counts).
REJECTION_REASONS = (
    "signature_invalid",
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
    # Subclasses name the provider and its delivery-id header, and define verify() and mapper().
    provider = ""
    delivery_header = ""
    verify: Callable[[Request, str], bool]
    mapper: Callable[[Request], Callable[[dict], dict]]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            200: DeployOutputSerializer,
            201: DeployOutputSerializer,
            202: OpenApiResponse(WebhookAnswerSerializer, description="not a deploy event; ignored"),
        },
    )
    def post(self, request: Request, project_slug: str) -> Response:
        found = provider_hook_find(project_slug=project_slug, provider=self.provider)
        # An unknown project, one without this provider's secret and a wrong signature answer alike (the
        # check runs against a throwaway secret), so the URL does not reveal which project slugs exist.
        verified = self.verify(request, found[1] if found else secrets.token_urlsafe(32))
        if found is None or not verified:
            message = f"the {self.provider} signature does not match the body (or no {self.provider} secret is set)"
            raise ApiError("signature_invalid", message, 401)
        project = found[0]
        event = self._event(request)
        if event is None:
            return Response({"ignored": self._ignored}, status=202)
        serializer = DeployCreateApi.InputSerializer(data=event)
        serializer.is_valid(raise_exception=True)
        event = deploy_event(serializer.validated_data)

        def handler() -> tuple[int, dict]:
            deploy, created = deploy_record(project=project, source=self.provider, **event)
            return deploy_recorded_answer(deploy, created)

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

    def _event(self, request: Request) -> dict | None:
        try:
            parsed = json.loads(request._request.body)
        except ValueError:
            raise ApiError("malformed_body", "the body is not JSON", 400) from None
        if not isinstance(parsed, dict):
            raise ApiError("malformed_body", "the body is not a JSON object", 400)
        try:
            return self.mapper(request)(parsed)
        except providers.Ignored as exc:
            self._ignored = str(exc)
            return None
        except providers.BadPayload as exc:
            raise ApiError("invalid", f"not a {self.provider} event we understand: {exc}", 400) from None


class GithubWebhookApi(ProviderWebhookApi):
    provider = "github"
    delivery_header = "X-GitHub-Delivery"

    def verify(self, request: Request, secret: str) -> bool:
        header = request.headers.get("X-Hub-Signature-256", "")
        return bool(header) and signing.github_verify(secret, header, request._request.body)

    def mapper(self, request: Request) -> Callable[[dict], dict]:
        kind = request.headers.get("X-GitHub-Event", "")
        if kind == "deployment_status":
            return providers.github_deployment_status

        def ignore(body: dict) -> dict:
            raise providers.Ignored(f"GitHub event {kind or 'without X-GitHub-Event'} is not deployment_status")

        return ignore


class GitlabWebhookApi(ProviderWebhookApi):
    provider = "gitlab"
    delivery_header = "X-Gitlab-Event-UUID"

    def verify(self, request: Request, secret: str) -> bool:
        header = request.headers.get("X-Gitlab-Token", "")
        return bool(header) and providers.gitlab_verify(secret, header)

    def mapper(self, request: Request) -> Callable[[dict], dict]:
        return providers.gitlab_deployment


class MlflowWebhookApi(ProviderWebhookApi):
    provider = "mlflow"
    delivery_header = "X-MLflow-Delivery-Id"

    def verify(self, request: Request, secret: str) -> bool:
        headers = request.headers
        signature = headers.get("X-MLflow-Signature", "")
        delivery, timestamp = headers.get("X-MLflow-Delivery-Id", ""), headers.get("X-MLflow-Timestamp", "")
        if not (signature and delivery and timestamp):
            return False
        return providers.mlflow_verify(secret, signature, delivery, timestamp, request._request.body)

    def mapper(self, request: Request) -> Callable[[dict], dict]:
        return providers.mlflow_event
