"""HTTP API for live metrics: ingest points, read a deploy's impact report and verdict, metric settings."""

from __future__ import annotations

import time

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Deploy, Service
from metrics.impact import selectors
from metrics.impact.services import metric_setting_save, points_ingest
from metrics.points import MAX_BATCH_ID_LENGTH, MAX_NAME_LENGTH, NAME_RE, PointsInvalid, parse_body, validate_points
from metrics.stats.impact import DIRECTIONS
from tracker.api_errors import ApiError
from tracker.auth import scope_required, signed_body_check
from tracker.openapi import list_response
from tracker.serializers import StrictSerializer

INGEST_CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/ndjson", "application/jsonlines")
SERIES_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
POINT_SCHEMA = {
    "type": "object",
    "required": ["service", "environment", "name", "value"],
    "additionalProperties": False,
    "properties": {
        "service": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": SERIES_PATTERN},
        "environment": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": SERIES_PATTERN},
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": NAME_RE.pattern},
        "value": {"type": "number"},
        "timestamp": {
            "description": "ISO 8601 with a timezone or epoch seconds; at most a day ahead, within the retention",
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
        },
        "labels": {
            "type": "object",
            "maxProperties": 16,
            "additionalProperties": {
                "oneOf": [{"type": "string", "maxLength": 200}, {"type": "number"}, {"type": "boolean"}]
            },
        },
        "deploy": {
            "description": "the deploy's id or version, in the point's own service and environment",
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1, "maxLength": 100}],
        },
    },
}
BATCH_SCHEMA = {
    "type": "object",
    "required": ["points"],
    "additionalProperties": False,
    "properties": {
        "batch_id": {"type": "string", "minLength": 1, "maxLength": MAX_BATCH_ID_LENGTH},
        "points": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": POINT_SCHEMA},
    },
}


class MetricsIngestApi(APIView):
    """POST /api/v1/metrics: a batch of up to 10,000 points, JSON or NDJSON, all-or-nothing."""

    permission_classes = [scope_required("ingest")]
    # The body is parsed by metrics.points (orjson, per-index errors), not by DRF's parsers.
    parser_classes: list = []

    @extend_schema(
        request={"application/json": BATCH_SCHEMA, "application/x-ndjson": {"type": "string"}},
        responses={202: dict, 200: dict},
        parameters=[
            OpenApiParameter("batch_id", str, description="makes a retried batch a no-op (also Idempotency-Key)"),
        ],
    )
    def post(self, request: Request) -> Response:
        project = request.auth.project
        signed_body_check(request, project)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in INGEST_CONTENT_TYPES:
            raise ApiError("unsupported_media_type", "send application/json or application/x-ndjson", 415)
        try:
            rows, batch_id = parse_body(request.body, content_type)
            batch_id = batch_id or _batch_id_from(request)
            batch = validate_points(
                rows, now=time.time(), retention_days=settings.METRIC_RETENTION_DAYS, batch_id=batch_id
            )
            result = points_ingest(project=project, batch=batch, may_create_streams=request.auth.has_scope("admin"))
        except PointsInvalid as exc:
            raise ApiError("invalid", exc.message, 400, exc.fields) from None
        body = {
            "accepted": result.accepted,
            "duplicate": result.duplicate,
            "batch_id": batch_id,
            "deploys": {str(k): v for k, v in result.deploys.items()},
        }
        return Response(body, status=200 if result.duplicate else 202)


def _batch_id_from(request: Request) -> str | None:
    batch_id = request.headers.get("Idempotency-Key") or request.query_params.get("batch_id")
    if batch_id is not None and not 0 < len(batch_id) <= MAX_BATCH_ID_LENGTH:
        raise PointsInvalid("batch_id is not valid", {"batch_id": [f"1-{MAX_BATCH_ID_LENGTH} characters"]})
    return batch_id


class DeployImpactApi(APIView):
    """GET /api/v1/deploys/{id}/impact: the full report, every metric with its inputs."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("impact_report"), project=request.auth.project, pk=deploy_id
        )
        return Response(selectors.impact_report_data(deploy=deploy))


class DeployVerdictApi(APIView):
    """GET /api/v1/deploys/{id}/verdict: the promotion gate for CI and Argo Rollouts' `web` metric."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("impact_report", "rolled_back_by"), project=request.auth.project, pk=deploy_id
        )
        return Response(selectors.deploy_verdict(deploy=deploy))


class MetricSettingOutputSerializer(serializers.Serializer):
    service = serializers.CharField()
    name = serializers.CharField()
    direction = serializers.CharField()
    allowed_change = serializers.FloatField()
    critical = serializers.BooleanField()
    min_samples = serializers.IntegerField()
    window_minutes = serializers.IntegerField(allow_null=True)
    warmup_minutes = serializers.IntegerField()
    seasonal_baseline = serializers.BooleanField()
    configured = serializers.BooleanField()


class MetricSettingListApi(APIView):
    """GET /api/v1/metric-settings?service=…: stored settings plus the defaults of every posted metric."""

    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        service = serializers.RegexField(SERIES_PATTERN, max_length=100)

    @extend_schema(parameters=[FilterSerializer], responses={200: list_response(MetricSettingOutputSerializer)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        service = get_object_or_404(Service, project=request.auth.project, name=filters.validated_data["service"])
        rows = selectors.metric_settings_effective(service=service)
        return Response({"results": MetricSettingOutputSerializer(rows, many=True).data})


class MetricSettingUpdateApi(APIView):
    """PUT /api/v1/metric-settings/{service}/{name} (scope admin): create or change one metric's settings."""

    permission_classes = [scope_required("admin")]

    class InputSerializer(StrictSerializer):
        direction = serializers.ChoiceField(choices=DIRECTIONS, required=False)
        allowed_change = serializers.FloatField(min_value=0.0, max_value=100.0, required=False)
        critical = serializers.BooleanField(required=False)
        min_samples = serializers.IntegerField(min_value=3, max_value=1_000_000, required=False)
        window_minutes = serializers.IntegerField(min_value=1, max_value=10_080, required=False)
        warmup_minutes = serializers.IntegerField(min_value=0, max_value=1440, required=False)
        seasonal_baseline = serializers.BooleanField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: MetricSettingOutputSerializer},
        parameters=[
            OpenApiParameter("service_name", str, OpenApiParameter.PATH, pattern=SERIES_PATTERN),
            OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=NAME_RE.pattern),
        ],
    )
    def put(self, request: Request, service_name: str, name: str) -> Response:
        if len(name) > MAX_NAME_LENGTH or not NAME_RE.match(name):
            raise ApiError("invalid", "the metric name is not valid", 400, {"name": ["letters, digits and _ . - : /"]})
        service = get_object_or_404(Service, project=request.auth.project, name=service_name)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        setting = metric_setting_save(
            project=service.project, service=service, name=name, token=request.auth, **data.validated_data
        )
        row = selectors.metric_setting_row(setting=setting, service=service)
        return Response(MetricSettingOutputSerializer(row).data)
