"""Release actions API: request a rollback or a promotion, read one, CI's status callback, and the project's
release (rollback) endpoint."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Deploy
from rollbacks import services
from rollbacks.models import RollbackRequest
from rollbacks.payloads import EVENT_TYPE, EndpointFormat
from rollbacks.selectors import promotion_get, release_request_get, rollback_get
from rollbacks.states import CALLBACK_STATES, RequestKind
from tracker.api_errors import ApiError, error_body
from tracker.auth import BearerTokenAuthentication, scope_required
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer

CALLBACK_STATUS_DOC = """CI's progress report for one {kind} request.

Authenticate with `Authorization: Bearer <callback token>` (the one-time token sent in the request,
valid for that request only and only while it is open) or with a token that has the `rollback` scope
(release actions).

| status | when |
|---|---|
| 200 `{"changed": true}` | the state moved forward |
| 200 `{"changed": false}` | a duplicate: the request is already in that state; nothing changed |
| 400 `invalid` | the body is not an object with a known `status` (and optional `ci_url`, `message`) |
| 401 `invalid_token` | no token, an unknown token, or another request's callback token |
| 404 `not_found` | no such request in the token's project |
| 409 `backward_transition` | the status is behind the current state (states only move forward) |
| 409 `rollback_closed` | the request already ended in another final state |
| 409 `rollback_expired` | the request expired (its deadline passed) before this report |
| 413 / 415 | the body is too large / not JSON |

A refused report stores nothing and changes nothing.
"""


class ModelOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="model_name")
    version = serializers.CharField(source="model_version")
    uri = serializers.CharField(source="model_uri")


class RollbackDeploySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    commit_sha = serializers.CharField()
    status = serializers.CharField()
    model = ModelOutputSerializer(source="*")


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField()


class CallbackSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.CharField()
    ci_url = serializers.CharField()
    message = serializers.CharField()


class RollbackOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    service = serializers.CharField(source="service.name")
    environment = serializers.CharField(source="environment.name")
    deploy = RollbackDeploySerializer()
    target = RollbackDeploySerializer()
    reason = serializers.CharField()
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    dispatched_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    ci_url = serializers.CharField()
    message = serializers.CharField()
    completed_by = serializers.IntegerField(source="completed_by_id", allow_null=True)
    attempts = AttemptSerializer(many=True)
    callbacks = CallbackSerializer(many=True)
    page_url = serializers.SerializerMethodField()

    def get_page_url(self, rollback: RollbackRequest) -> str:
        return settings.SITE_URL + rollback.deploy.get_absolute_url() + "#rollback"


class PromotionOutputSerializer(RollbackOutputSerializer):
    """A promotion: `deploy` (the canary, A/B or shadow deploy) takes over the traffic of `baseline`."""

    target = None
    baseline = RollbackDeploySerializer(source="target", help_text="the deploy whose traffic it takes over")

    def get_page_url(self, rollback: RollbackRequest) -> str:
        return settings.SITE_URL + rollback.deploy.get_absolute_url() + "#promotion"


class CallbackOutputSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="false for a duplicate report (already in that state)")
    rollback = RollbackOutputSerializer()


class PromotionCallbackOutputSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="false for a duplicate report (already in that state)")
    promotion = PromotionOutputSerializer()


OUTPUT_SERIALIZERS: dict[str, type[RollbackOutputSerializer]] = {
    RequestKind.ROLLBACK: RollbackOutputSerializer,
    RequestKind.PROMOTION: PromotionOutputSerializer,
}


def _represent(project_id: int, rollback_id: object, kind: str = RequestKind.ROLLBACK) -> dict:
    request = release_request_get(project_id=project_id, request_id=rollback_id, kind=kind)
    return OUTPUT_SERIALIZERS[kind](request).data


class RollbackCreateApi(APIView):
    permission_classes = [scope_required("rollback")]

    class InputSerializer(StrictSerializer):
        target_id = serializers.IntegerField(min_value=1, required=False)
        reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={201: RollbackOutputSerializer},
        summary="Request a rollback of this deploy (to `target_id`, default: the last healthy deploy)",
    )
    def post(self, request: Request, deploy_id: int) -> Response:
        project = request.auth.project
        deploy = get_object_or_404(Deploy.objects.for_timeline(), project=project, pk=deploy_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = None
        if "target_id" in serializer.validated_data:
            target = Deploy.objects.filter(project=project, pk=serializer.validated_data["target_id"]).first()
            if target is None:
                raise ApiError("invalid", "the target deploy does not exist", 400, {"target_id": ["no such deploy"]})
        rollback = services.rollback_request_create(
            deploy=deploy, target=target, reason=serializer.validated_data["reason"], token=request.auth
        )
        return Response(_represent(project.pk, rollback.pk), status=201)


class PromotionCreateApi(APIView):
    permission_classes = [scope_required("rollback")]

    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={201: PromotionOutputSerializer},
        summary="Request the promotion of this canary, A/B or shadow deploy (a release action)",
        description="Sends a signed `promotion.requested` to the project's release (rollback) endpoint; CI's "
        "callback `succeeded` completes it. 409 `not_promotable` for a deploy that does not run beside its "
        "baseline, `no_baseline`, `promotion_already_open`, `rollback_endpoint_missing`.",
    )
    def post(self, request: Request, deploy_id: int) -> Response:
        project = request.auth.project
        deploy = get_object_or_404(Deploy.objects.for_timeline(), project=project, pk=deploy_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        promotion = services.promotion_request_create(
            deploy=deploy, reason=serializer.validated_data["reason"], token=request.auth
        )
        return Response(_represent(project.pk, promotion.pk, RequestKind.PROMOTION), status=201)


class ReadOrRollbackScope(permissions.BasePermission):
    """Reading a request is open to `read` tokens and to the `rollback` tokens that make requests."""

    def has_permission(self, request: Request, view: object) -> bool:
        token = request.auth
        if token is not None and hasattr(token, "has_scope") and token.has_scope("rollback"):
            return True
        return scope_required("read")().has_permission(request, view)


class RollbackDetailApi(APIView):
    permission_classes = [ReadOrRollbackScope]

    @extend_schema(responses={200: RollbackOutputSerializer}, summary="A rollback request with attempts and callbacks")
    def get(self, request: Request, rollback_id: str) -> Response:
        rollback = rollback_get(project_id=request.auth.project.pk, rollback_id=rollback_id)
        if rollback is None:
            raise ApiError("not_found", "no such rollback request", 404)
        return Response(RollbackOutputSerializer(rollback).data)


class PromotionDetailApi(APIView):
    permission_classes = [ReadOrRollbackScope]

    @extend_schema(
        responses={200: PromotionOutputSerializer}, summary="A promotion request with attempts and callbacks"
    )
    def get(self, request: Request, promotion_id: str) -> Response:
        promotion = promotion_get(project_id=request.auth.project.pk, promotion_id=promotion_id)
        if promotion is None:
            raise ApiError("not_found", "no such promotion request", 404)
        return Response(PromotionOutputSerializer(promotion).data)


class CallbackTokenPrincipal:
    is_authenticated = True
    is_anonymous = False

    def __init__(self, rollback: RollbackRequest) -> None:
        self.rollback = rollback


class CallbackTokenAuthentication(authentication.BaseAuthentication):
    """`Bearer rbcb_…`: the one-time token of one rollback or promotion request; other bearers fall through."""

    def authenticate(self, request: Request) -> tuple[CallbackTokenPrincipal, RollbackRequest] | None:
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw.startswith(services.CALLBACK_TOKEN_PREFIX):
            return None
        rollback = (
            RollbackRequest.objects.filter(callback_token_hash=services.callback_token_hash(raw[:200]))
            .only("id", "project_id")
            .first()
        )
        if rollback is None:
            raise ApiError("invalid_token", "the callback token is unknown", 401)
        return CallbackTokenPrincipal(rollback), rollback

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class CallbackTokenOrRollbackScope(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        if isinstance(request.auth, RollbackRequest):
            return True
        return scope_required("rollback")().has_permission(request, view)


class RollbackStatusApi(APIView):
    authentication_classes = [CallbackTokenAuthentication, BearerTokenAuthentication]
    permission_classes = [CallbackTokenOrRollbackScope]
    kind = RequestKind.ROLLBACK

    class InputSerializer(StrictSerializer):
        status = serializers.ChoiceField(choices=[str(s) for s in CALLBACK_STATES])
        ci_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
        message = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={200: CallbackOutputSerializer},
        summary="CI reports a rollback's progress",
        description=CALLBACK_STATUS_DOC.replace("{kind}", "rollback"),
    )
    def post(self, request: Request, rollback_id: str) -> Response:
        return self.report(request, rollback_id)

    def report(self, request: Request, request_id: str) -> Response:
        kind = self.kind
        if isinstance(request.auth, RollbackRequest):
            if str(request.auth.pk) != str(request_id):
                raise ApiError("invalid_token", f"this callback token belongs to another {kind} request", 401)
            project_id, token = request.auth.project_id, None
        else:
            project_id, token = request.auth.project.pk, request.auth
        rollback = RollbackRequest.objects.filter(project_id=project_id, kind=kind, pk=request_id).first()
        if rollback is None:
            raise ApiError("not_found", f"no such {kind} request", 404)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.rollback_callback_apply(rollback=rollback, token=token, **serializer.validated_data)
        return Response({"changed": result.changed, kind: _represent(project_id, rollback.pk, kind)})


class PromotionStatusApi(RollbackStatusApi):
    kind = RequestKind.PROMOTION

    @extend_schema(
        request=RollbackStatusApi.InputSerializer,
        responses={200: PromotionCallbackOutputSerializer},
        summary="CI reports a promotion's progress (`succeeded` completes it)",
        description=CALLBACK_STATUS_DOC.replace("{kind}", "promotion"),
    )
    def post(self, request: Request, promotion_id: str) -> Response:
        return self.report(request, promotion_id)


class RollbackEndpointInputSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2048)
    format = serializers.ChoiceField(choices=[f.value for f in EndpointFormat])
    secret = serializers.RegexField(r"^whsec_[A-Za-z0-9+/=]{16,200}\Z", required=False)
    token = serializers.CharField(max_length=500, required=False, allow_blank=True)
    ref = serializers.CharField(max_length=255, required=False, default="main")
    event_type = serializers.CharField(max_length=100, required=False, default=EVENT_TYPE)


class RollbackEndpointOutputSerializer(serializers.Serializer):
    url = serializers.CharField()
    format = serializers.CharField()
    ref = serializers.CharField()
    event_type = serializers.CharField()
    has_token = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_has_token(self, endpoint) -> bool:
        return bool(endpoint.token_encrypted)


class RollbackEndpointGetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        responses={200: RollbackEndpointOutputSerializer}, summary="Where rollback requests go (secrets are write-only)"
    )
    def get(self, request: Request) -> Response:
        endpoint = getattr(request.auth.project, "rollback_endpoint", None)
        if endpoint is None:
            return Response(error_body("not_found", "no rollback endpoint is configured"), status=404)
        return Response(RollbackEndpointOutputSerializer(endpoint).data)


class RollbackEndpointSetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=RollbackEndpointInputSerializer,
        responses={200: RollbackEndpointOutputSerializer},
        summary="Set the rollback endpoint",
    )
    def put(self, request: Request) -> Response:
        serializer = RollbackEndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, generated = services.rollback_endpoint_set(
            project=request.auth.project, api_token=request.auth, **serializer.validated_data
        )
        body = RollbackEndpointOutputSerializer(endpoint).data
        if generated:
            # Shown once: only its encrypted form is kept.
            body["secret"] = generated
        return Response(body)


class RollbackEndpointApi(ApiOperations):
    operations = {"get": RollbackEndpointGetApi, "put": RollbackEndpointSetApi}
