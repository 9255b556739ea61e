"""Metric sources API (scope admin; credentials write-only): list, create, read, change, delete, test."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.points import SLUG_PATTERN
from metrics.sources import selectors, services
from metrics.sources.models import MAX_TIMEOUT_SECONDS, TENANT_MAX_LENGTH, MetricSource, SourceKind
from metrics.sources.promql import MAX_QUERY_LENGTH
from metrics.stats.impact import DIRECTIONS
from tracker.auth import scope_required
from tracker.openapi import list_response
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer

TENANT_HELP = 'Mimir / Cortex tenant ID, sent as X-Scope-OrgID (tenants joined by | for a federated query); "": none'


class QuerySerializer(StrictSerializer):
    service = serializers.RegexField(SLUG_PATTERN, max_length=100)
    name = serializers.CharField(max_length=200)
    query = serializers.CharField(
        max_length=MAX_QUERY_LENGTH,
        trim_whitespace=False,
        help_text="PromQL; {{service}}, {{environment}}, {{version}}, {{deploy}} (and the deploy's external_id, "
        "commit_sha, model_name, model_version, data_version) inside quoted strings",
    )
    step_seconds = serializers.IntegerField(min_value=1, max_value=services.MAX_STEP_SECONDS, default=60)
    direction = serializers.ChoiceField(choices=DIRECTIONS, required=False)
    critical = serializers.BooleanField(default=False)
    allowed_change = serializers.FloatField(min_value=0, max_value=100, default=0.1)
    min_samples = serializers.IntegerField(min_value=3, max_value=1_000_000, default=30)


class BasicAuthSerializer(StrictSerializer):
    username = serializers.CharField(max_length=200)
    password = serializers.CharField(max_length=500, trim_whitespace=False)


class SourceInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=SourceKind.values, default=SourceKind.PROMETHEUS)
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2048, help_text="the API's base URL: …/api/v1/query_range is added")
    bearer_token = serializers.CharField(max_length=4000, required=False, write_only=True)
    basic_auth = BasicAuthSerializer(required=False, write_only=True)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False)
    tenant = serializers.CharField(
        max_length=TENANT_MAX_LENGTH, required=False, allow_blank=True, help_text=TENANT_HELP
    )
    queries = QuerySerializer(many=True, required=False, max_length=services.MAX_QUERIES)


class SourceUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.CharField(max_length=2048, required=False)
    bearer_token = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, write_only=True, help_text='"" removes the credentials'
    )
    basic_auth = BasicAuthSerializer(required=False, write_only=True)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False)
    tenant = serializers.CharField(
        max_length=TENANT_MAX_LENGTH, required=False, allow_blank=True, help_text=TENANT_HELP
    )
    queries = QuerySerializer(many=True, required=False, max_length=services.MAX_QUERIES, help_text="replaces all")


class HealthSerializer(serializers.Serializer):
    healthy = serializers.BooleanField(allow_null=True, help_text="null until the worker has queried it")
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class TestSerializer(serializers.Serializer):
    requested_at = serializers.DateTimeField(allow_null=True)
    result = serializers.JSONField(allow_null=True, help_text="per query: series, samples, error; null while running")


class QueryOutputSerializer(serializers.Serializer):
    service = serializers.CharField()
    name = serializers.CharField()
    query = serializers.CharField()
    step_seconds = serializers.IntegerField()
    direction = serializers.CharField()
    critical = serializers.BooleanField()
    allowed_change = serializers.FloatField()
    min_samples = serializers.IntegerField()


class SourceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField()
    has_credentials = serializers.BooleanField()
    tenant = serializers.CharField(help_text=TENANT_HELP)
    timeout_seconds = serializers.IntegerField()
    queries = QueryOutputSerializer(many=True)
    health = HealthSerializer()
    test = TestSerializer()
    created_at = serializers.DateTimeField()


def _out(source: MetricSource) -> dict:
    return SourceOutputSerializer(selectors.source_data(source)).data


def _source_for(request: Request, source_id: int) -> MetricSource:
    return get_object_or_404(
        MetricSource.objects.prefetch_related("queries__service"), project=request.auth.project, pk=source_id
    )


class MetricSourceListApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={200: list_response(SourceOutputSerializer)}, summary="Metric sources")
    def get(self, request: Request) -> Response:
        return Response({"results": [_out(s) for s in selectors.source_list(project=request.auth.project)]})


class MetricSourceCreateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=SourceInputSerializer, responses={201: SourceOutputSerializer}, summary="Connect a metric source"
    )
    def post(self, request: Request) -> Response:
        data = SourceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.source_create(project=request.auth.project, token=request.auth, **data.validated_data)
        return Response(_out(_source_for(request, source.pk)), status=201)


class MetricSourceCollectionApi(ApiOperations):
    """GET lists, POST creates; both need the admin scope."""

    operations = {"get": MetricSourceListApi, "post": MetricSourceCreateApi}


class MetricSourceGetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={200: SourceOutputSerializer}, summary="One metric source, with its health")
    def get(self, request: Request, source_id: int) -> Response:
        return Response(_out(_source_for(request, source_id)))


class MetricSourceUpdateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(request=SourceUpdateSerializer, responses={200: SourceOutputSerializer}, summary="Change a source")
    def patch(self, request: Request, source_id: int) -> Response:
        source = _source_for(request, source_id)
        data = SourceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.source_update(source=source, token=request.auth, **data.validated_data)
        return Response(_out(_source_for(request, source_id)))


class MetricSourceDeleteApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={204: None}, summary="Delete a metric source")
    def delete(self, request: Request, source_id: int) -> Response:
        services.source_delete(source=_source_for(request, source_id), token=request.auth)
        return Response(status=204)


class MetricSourceDetailApi(ApiOperations):
    operations = {"get": MetricSourceGetApi, "patch": MetricSourceUpdateApi, "delete": MetricSourceDeleteApi}


class MetricSourceTestApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=None,
        responses={202: SourceOutputSerializer},
        summary="Run every query over the last hour in the worker; the result appears under `test`",
    )
    def post(self, request: Request, source_id: int) -> Response:
        source = services.source_test_request(source=_source_for(request, source_id), token=request.auth)
        return Response(_out(source), status=202)
