from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.hook_services import hook_settings_get, hook_settings_update
from deployments.models import Deploy, Status, Strategy
from deployments.providers import DEFAULT_MLFLOW_ENVIRONMENTS
from deployments.selectors import deploy_get, deploy_list
from deployments.services import deploy_record
from tracker.api_errors import ApiError
from tracker.auth import scope_required, signed_body_check
from tracker.idempotency import body_hash, run_once
from tracker.openapi import SIGNATURE_HEADERS, list_response
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._\-]*\Z"
# A mapping's key (a repository path, a model name, an alias): 1 to 255 characters, none a control character or a
# lone surrogate (neither can be stored as text).
_MAP_KEY = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,255}")


# The model the deploy ships: each field lands on its deploy_record keyword (model_name, …).
class ModelInputSerializer(StrictSerializer):
    name = serializers.CharField(source="model_name", max_length=200, required=False, allow_blank=True)
    version = serializers.CharField(source="model_version", max_length=100, required=False, allow_blank=True)
    uri = serializers.CharField(source="model_uri", max_length=1000, required=False, allow_blank=True)
    run_id = serializers.CharField(source="model_run_id", max_length=100, required=False, allow_blank=True)
    digest = serializers.CharField(source="model_digest", max_length=200, required=False, allow_blank=True)


class ParamsField(serializers.JSONField):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object")
        if len(data) > 200 or len(str(data)) > 16_000:
            raise serializers.ValidationError("at most 200 keys and 16,000 characters")
        return super().to_internal_value(data)


class DeployModelOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="model_name")
    version = serializers.CharField(source="model_version")
    uri = serializers.CharField(source="model_uri")
    run_id = serializers.CharField(source="model_run_id")
    digest = serializers.CharField(source="model_digest")


ANY_VALUE = {"description": "a field's value (string, number or null)"}
CHANGES_SCHEMA = {
    "type": "object",
    "description": "what changed against the baseline (null until the deploy is processed)",
    "required": ["has_baseline", "fields", "changed_fields", "params", "params_changed"],
    "properties": {
        "has_baseline": {"type": "boolean"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "label", "before", "after", "changed"],
                "properties": {
                    "field": {"type": "string"},
                    "label": {"type": "string"},
                    "before": ANY_VALUE,
                    "after": ANY_VALUE,
                    "changed": {"type": "boolean"},
                },
            },
        },
        "changed_fields": {"type": "array", "items": {"type": "string"}},
        "params": {
            "type": "object",
            "required": ["added", "removed", "changed"],
            "properties": {
                "added": {"type": "object", "additionalProperties": True},
                "removed": {"type": "object", "additionalProperties": True},
                "changed": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["before", "after"],
                        "properties": {"before": {}, "after": {}},
                    },
                },
            },
        },
        "params_changed": {"type": "boolean"},
    },
}


@extend_schema_field(CHANGES_SCHEMA)
class ChangesField(serializers.JSONField):
    """The stored comparison (deployments.changes.changes_between), documented field by field."""


class BaselineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    deployed_at = serializers.DateTimeField()


class DeployOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    service = serializers.CharField(source="service.name")
    environment = serializers.CharField(source="environment.name")
    version = serializers.CharField()
    status = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    commit_sha = serializers.CharField()
    ref = serializers.CharField()
    author = serializers.CharField()
    ci_url = serializers.CharField()
    environment_url = serializers.CharField()
    commit_timestamp = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    deployed_at = serializers.DateTimeField()
    model = DeployModelOutputSerializer(source="*")
    data_version = serializers.CharField()
    params = serializers.JSONField()
    strategy = serializers.CharField()
    traffic_percent = serializers.FloatField(allow_null=True)
    changelog = serializers.CharField()
    expected_drift = serializers.ListField(child=serializers.CharField())
    baseline = BaselineSerializer(allow_null=True)
    is_rollback = serializers.BooleanField()
    rolled_back_by = serializers.IntegerField(source="rolled_back_by_id", allow_null=True)
    changes = ChangesField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_url(self, deploy: Deploy) -> str:
        return settings.SITE_URL + deploy.get_absolute_url()


def deploy_event(validated: dict) -> dict:
    """A validated deploy event as deploy_record's keywords (the nested model object flattened)."""
    event = dict(validated)
    model = event.pop("model", {})
    return {**event, **model}


def deploy_recorded_answer(deploy: Deploy, created: bool) -> tuple[int, dict]:
    """The answer to a recorded deploy event: 201 created or 200 updated, with the deploy as now stored."""
    return (201 if created else 200), DeployOutputSerializer(deploy_get(deploy_id=deploy.pk)).data


class DeployCreateApi(APIView):
    permission_classes = [scope_required("ingest")]

    class InputSerializer(StrictSerializer):
        service = serializers.RegexField(NAME_REGEX, max_length=100)
        environment = serializers.RegexField(NAME_REGEX, max_length=50)
        version = serializers.CharField(max_length=100)
        status = serializers.ChoiceField(choices=Status.choices, default=Status.SUCCEEDED)
        external_id = serializers.CharField(max_length=200, required=False)
        commit_sha = serializers.RegexField(r"^[0-9a-fA-F]{7,64}\Z", required=False)
        ref = serializers.CharField(max_length=255, required=False, allow_blank=True)
        author = serializers.CharField(max_length=200, required=False, allow_blank=True)
        ci_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
        environment_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
        commit_timestamp = serializers.DateTimeField(required=False)
        started_at = serializers.DateTimeField(required=False)
        finished_at = serializers.DateTimeField(required=False)
        model = ModelInputSerializer(required=False)
        data_version = serializers.CharField(max_length=200, required=False, allow_blank=True)
        params = ParamsField(required=False)
        strategy = serializers.ChoiceField(choices=Strategy.choices, required=False)
        traffic_percent = serializers.FloatField(min_value=0, max_value=100, required=False)
        changelog = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
        expected_drift = serializers.ListField(
            child=serializers.CharField(max_length=200), max_length=500, required=False
        )

        def validate(self, attrs):
            if attrs.get("commit_sha"):
                attrs["commit_sha"] = attrs["commit_sha"].lower()
            started, finished = attrs.get("started_at"), attrs.get("finished_at")
            if started and finished and finished < started:
                raise serializers.ValidationError({"finished_at": ["is before started_at"]})
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: DeployOutputSerializer, 201: DeployOutputSerializer},
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
            *SIGNATURE_HEADERS,
        ],
        summary="Register or update a deploy",
    )
    def post(self, request: Request) -> Response:
        project = request.auth.project
        webhook_id = signed_body_check(request, project)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = deploy_event(serializer.validated_data)
        digest = body_hash(request._request.body)

        def handler() -> tuple[int, dict]:
            deploy, created = deploy_record(project=project, token=request.auth, source="api", **event)
            return deploy_recorded_answer(deploy, created)

        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            raise ApiError("invalid", "Idempotency-Key is at most 200 characters", 400)
        if webhook_id:
            status, body = run_once(
                project=project,
                kind="webhook-id",
                key=webhook_id,
                request_hash=digest,
                handler=handler,
                replay_is_conflict=True,
            )
        elif key:
            status, body = run_once(
                project=project, kind="Idempotency-Key", key=key, request_hash=digest, handler=handler
            )
        else:
            status, body = handler()
        return Response(body, status=status)


class DeployPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-deployed_at", "-id")


class DeployListApi(APIView):
    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        service = serializers.CharField(max_length=100, required=False)
        environment = serializers.CharField(max_length=50, required=False)
        status = serializers.ChoiceField(choices=Status.choices, required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        version = serializers.CharField(max_length=100, required=False)
        external_id = serializers.CharField(max_length=200, required=False)
        cursor = serializers.CharField(required=False)
        limit = serializers.IntegerField(min_value=1, max_value=200, required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: list_response(DeployOutputSerializer, paginated=True)},
        summary="List deploys, newest first",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = {k: v for k, v in filters.validated_data.items() if k not in ("cursor", "limit")}
        deploys = deploy_list(project=request.auth.project, **params)
        paginator = DeployPagination()
        page = paginator.paginate_queryset(deploys, request, view=self)
        return paginator.get_paginated_response(DeployOutputSerializer(page, many=True).data)


class DeployCollectionApi(ApiOperations):
    """One URL, two operations: GET lists (scope read), POST records (scope ingest)."""

    operations = {"get": DeployListApi, "post": DeployCreateApi}


class _NameMapField(serializers.DictField):
    """{from: to} of at most 500 entries; every `to` a valid name (a service or an environment)."""

    def __init__(self, *, max_length: int, **kwargs) -> None:
        super().__init__(child=serializers.RegexField(NAME_REGEX, max_length=max_length), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict) and (len(data) > 500 or not all(_MAP_KEY.fullmatch(str(key)) for key in data)):
            raise serializers.ValidationError(
                "at most 500 entries; keys of 1 to 255 characters, none of them a control character"
            )
        return super().to_internal_value(data)


class HookSettingsOutputSerializer(serializers.Serializer):
    service_names = serializers.DictField(
        child=serializers.CharField(), help_text="repository path or MLflow model name -> service name"
    )
    mlflow_environments = serializers.DictField(
        child=serializers.CharField(), help_text="MLflow alias -> environment (champion -> production by default)"
    )


def _hook_settings_answer(settings) -> dict:
    return HookSettingsOutputSerializer(
        {
            "service_names": settings.service_names,
            "mlflow_environments": {**DEFAULT_MLFLOW_ENVIRONMENTS, **settings.mlflow_environments},
        }
    ).data


class HookSettingsGetApi(APIView):
    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: HookSettingsOutputSerializer}, summary="Native webhook mappings")
    def get(self, request: Request) -> Response:
        return Response(_hook_settings_answer(hook_settings_get(project=request.auth.project)))


class HookSettingsUpdateApi(APIView):
    permission_classes = [scope_required("admin")]

    class InputSerializer(StrictSerializer):
        service_names = _NameMapField(max_length=100, required=False)
        mlflow_environments = _NameMapField(max_length=50, required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: HookSettingsOutputSerializer},
        summary="Change native webhook mappings (each given mapping replaces the stored one)",
    )
    def patch(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        settings = hook_settings_update(project=request.auth.project, token=request.auth, **data.validated_data)
        return Response(_hook_settings_answer(settings))


class HookSettingsApi(ApiOperations):
    """How native webhooks name things: a repository's service, an MLflow alias's environment."""

    operations = {"get": HookSettingsGetApi, "patch": HookSettingsUpdateApi}
