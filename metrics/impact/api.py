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
from deployments.selectors import deploy_newest
from metrics.impact import selectors
from metrics.impact.services import metric_setting_save, points_ingest
from metrics.payloads import MAX_BATCH_ID_LENGTH, BatchId, is_valid
from metrics.points import NAME_PATTERN, SLUG_PATTERN, MetricName, PointsInvalid, decode_points, points_json_schema
from metrics.stats.impact import DIRECTIONS, REPORT_MODES, VERDICTS
from tracker.api_errors import ApiError
from tracker.auth import scope_required, signed_body_check
from tracker.openapi import SIGNATURE_HEADERS, list_response
from tracker.serializers import StrictSerializer

INGEST_CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/ndjson", "application/jsonlines")
NDJSON_SCHEMA = {"type": "string", "description": "one point per line: the same object as an item of `points`"}


class MetricsIngestApi(APIView):
    """POST /api/v1/metrics: a batch of up to 10,000 points, JSON or NDJSON, all-or-nothing."""

    permission_classes = [scope_required("ingest")]
    # The body is decoded by metrics.points (msgspec, per-index errors), not by DRF's parsers.
    parser_classes: list = []

    @extend_schema(
        request={"application/json": points_json_schema(), "application/x-ndjson": NDJSON_SCHEMA},
        responses={202: dict, 200: dict},
        parameters=[
            OpenApiParameter("batch_id", str, description="makes a retried batch a no-op (also Idempotency-Key)"),
            *SIGNATURE_HEADERS,
        ],
    )
    def post(self, request: Request) -> Response:
        project = request.auth.project
        signed_body_check(request, project)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in INGEST_CONTENT_TYPES:
            raise ApiError("unsupported_media_type", "send application/json or application/x-ndjson", 415)
        batch = decode_points(
            request.body, content_type, now=time.time(), retention_days=settings.METRIC_RETENTION_DAYS
        )
        batch.batch_id = batch.batch_id or _batch_id_from(request)
        result = points_ingest(project=project, batch=batch, may_create_streams=request.auth.has_scope("admin"))
        batch_id = batch.batch_id
        body = {
            "accepted": result.accepted,
            "duplicate": result.duplicate,
            "batch_id": batch_id,
            "deploys": {str(k): v for k, v in result.deploys.items()},
        }
        return Response(body, status=200 if result.duplicate else 202)


def _batch_id_from(request: Request) -> str | None:
    batch_id = request.headers.get("Idempotency-Key") or request.query_params.get("batch_id")
    if not is_valid(batch_id, BatchId | None):
        raise PointsInvalid("batch_id is not valid", {"batch_id": [f"1-{MAX_BATCH_ID_LENGTH} characters"]})
    return batch_id


class ImpactWindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class ImpactJudgmentSerializer(serializers.Serializer):
    """One metric's judgment with every input it was judged on (the main fields; the entry carries more)."""

    name = serializers.CharField()
    classification = serializers.ChoiceField(choices=["Pass", "High", "Low", "NoData"])
    direction = serializers.CharField()
    critical = serializers.BooleanField()
    allowed_change = serializers.FloatField()
    min_samples = serializers.IntegerField()
    n_baseline = serializers.IntegerField(help_text="points in the baseline window (the control, in concurrent mode)")
    n_current = serializers.IntegerField()
    judged_baseline = serializers.IntegerField(help_text="values the judge read (a sample above 25,000)")
    judged_current = serializers.IntegerField()
    mean_baseline = serializers.FloatField(allow_null=True)
    mean_current = serializers.FloatField(allow_null=True)
    median_baseline = serializers.FloatField(allow_null=True)
    median_current = serializers.FloatField(allow_null=True)
    relative_change = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    hl_estimate = serializers.FloatField(allow_null=True)
    hl_ci_low = serializers.FloatField(allow_null=True)
    hl_ci_high = serializers.FloatField(allow_null=True)
    failed = serializers.BooleanField()
    improved = serializers.BooleanField()
    reason = serializers.CharField()


class ImpactMetricSerializer(ImpactJudgmentSerializer):
    mode = serializers.ChoiceField(choices=REPORT_MODES)
    baseline_window = ImpactWindowSerializer(allow_null=True, help_text="concurrent: the current window itself")
    current_window = ImpactWindowSerializer(allow_null=True)


class ImpactSegmentSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="the label's value, as text")
    verdict = serializers.ChoiceField(choices=VERDICTS)
    score = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(help_text="this deploy's points carrying the value in its current windows")
    n_estimated = serializers.BooleanField(
        required=False,
        help_text="always false: counts are exact, summed from the stored points (true in reports computed when "
        "counts above 25,000 points per side were estimated from the sample)",
    )
    failed = serializers.ListField(child=serializers.CharField(), help_text="the metrics failing in the segment")
    reasons = serializers.ListField(child=serializers.CharField())
    metrics = ImpactJudgmentSerializer(many=True)


class ImpactReportOutputSerializer(serializers.Serializer):
    deploy = serializers.IntegerField()
    baseline = serializers.IntegerField(allow_null=True)
    verdict = serializers.ChoiceField(choices=VERDICTS)
    score = serializers.FloatField(allow_null=True)
    final = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    computed_at = serializers.DateTimeField(allow_null=True)
    compute_ms = serializers.FloatField(allow_null=True)
    thresholds = serializers.DictField(child=serializers.FloatField())
    mode = serializers.ChoiceField(
        choices=REPORT_MODES,
        help_text="sequential: against the baseline's last W minutes before this deploy; concurrent: against the "
        "baseline's points in the same window (a canary, A/B or shadow deploy beside its baseline)",
    )
    baseline_window = ImpactWindowSerializer(allow_null=True, help_text="the span of the metrics' baseline windows")
    current_window = ImpactWindowSerializer(allow_null=True, help_text="the span of the metrics' current windows")
    metrics = ImpactMetricSerializer(many=True)
    segments = serializers.DictField(
        child=ImpactSegmentSerializer(many=True),
        help_text="per label key of the service's segment_labels, its largest values (at most 20) worst first",
    )


class DeployImpactApi(APIView):
    """GET /api/v1/deploys/{id}/impact: the full report, every metric with its inputs."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: ImpactReportOutputSerializer})
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("impact_report"), project=request.auth.project, pk=deploy_id
        )
        return Response(selectors.impact_report_data(deploy=deploy))


class VerdictOutputSerializer(serializers.Serializer):
    """The gate's answer: promote on a final healthy or improved verdict, fail on degraded."""

    deploy = serializers.IntegerField()
    verdict = serializers.CharField(
        help_text="healthy, improved, marginal, degraded, insufficient_data, pending, rollback (a rollback "
        "deploy skips the gate), or promote (a canary, A/B or shadow deploy judged healthy or improved, final)"
    )
    score = serializers.FloatField(allow_null=True, help_text="passing metrics ÷ judged metrics × 100")
    final = serializers.BooleanField(help_text="true once the observation window has ended")
    reasons = serializers.ListField(child=serializers.CharField())
    computed_at = serializers.DateTimeField(allow_null=True, required=False, help_text="absent for a rollback")
    required_checks = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="when the service requires CI checks: each one's status (passed, failed, warning or missing)",
    )


class DeployVerdictApi(APIView):
    """GET /api/v1/deploys/{id}/verdict: the promotion gate for CI and Argo Rollouts' `web` metric."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: VerdictOutputSerializer})
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("impact_report", "rolled_back_by"), project=request.auth.project, pk=deploy_id
        )
        return Response(selectors.deploy_verdict(deploy=deploy))


class VerdictLookupApi(APIView):
    """GET /api/v1/verdict?service=&environment=&version= (or external_id=): the gate of the newest match.

    For CI that registered its deploy through a native hook and so has no deploy id.
    """

    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        service = serializers.CharField(max_length=100, required=False)
        environment = serializers.CharField(max_length=50, required=False)
        version = serializers.CharField(max_length=100, required=False)
        external_id = serializers.CharField(max_length=200, required=False)

        def validate(self, attrs):
            if not attrs.get("external_id") and not (attrs.get("service") and attrs.get("environment")):
                raise serializers.ValidationError(
                    {"service": ["name service and environment (and version), or external_id"]}
                )
            return attrs

    @extend_schema(
        parameters=[FilterSerializer], responses={200: dict}, summary="The gate for the newest matching deploy"
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        deploy = deploy_newest(project=request.auth.project, **filters.validated_data)
        if deploy is None:
            raise ApiError("not_found", "no deploy matches these filters", 404)
        deploy = Deploy.objects.select_related("impact_report", "rolled_back_by").get(pk=deploy.pk)
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
    unit = serializers.CharField(allow_blank=True)
    configured = serializers.BooleanField()


class MetricSettingListApi(APIView):
    """GET /api/v1/metric-settings?service=…: stored settings plus the defaults of every posted metric."""

    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        service = serializers.RegexField(SLUG_PATTERN, max_length=100)

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
        unit = serializers.CharField(max_length=20, allow_blank=True, trim_whitespace=True, required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: MetricSettingOutputSerializer},
        parameters=[
            OpenApiParameter("service_name", str, OpenApiParameter.PATH, pattern=SLUG_PATTERN),
            OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=NAME_PATTERN),
        ],
    )
    def put(self, request: Request, service_name: str, name: str) -> Response:
        if not is_valid(name, MetricName):
            raise ApiError("invalid", "the metric name is not valid", 400, {"name": ["letters, digits and _ . - : /"]})
        service = get_object_or_404(Service, project=request.auth.project, name=service_name)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        setting = metric_setting_save(
            project=service.project, service=service, name=name, token=request.auth, **data.validated_data
        )
        row = selectors.metric_setting_row(setting=setting, service=service)
        return Response(MetricSettingOutputSerializer(row).data)
