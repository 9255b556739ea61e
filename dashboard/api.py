"""API answers that join several apps' data: one deploy with its impact and drift summaries, the DORA figures."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.selectors import dora_report
from deployments.api import DeployOutputSerializer
from deployments.models import Deploy
from metrics.drift.selectors import drift_summary
from metrics.impact.selectors import impact_report_data
from tracker.auth import scope_required
from tracker.serializers import StrictSerializer


class ImpactSummarySerializer(serializers.Serializer):
    verdict = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    final = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    computed_at = serializers.DateTimeField(allow_null=True)


class DriftSummarySerializer(serializers.Serializer):
    status = serializers.CharField()
    n_columns = serializers.IntegerField()
    n_drifted = serializers.IntegerField()
    n_expected = serializers.IntegerField()
    drift_share = serializers.FloatField(allow_null=True)
    dataset_drift = serializers.BooleanField(allow_null=True)
    prediction_drift_cause = serializers.CharField(allow_null=True)
    final = serializers.BooleanField()
    computed_at = serializers.DateTimeField(allow_null=True)


# The summaries are built by the metrics selectors and answered as they are; these fields only document them.
@extend_schema_field(ImpactSummarySerializer)
class ImpactSummaryField(serializers.JSONField):
    pass


@extend_schema_field(DriftSummarySerializer)
class DriftSummaryField(serializers.JSONField):
    pass


class DeployDetailApi(APIView):
    permission_classes = [scope_required("read")]

    class OutputSerializer(DeployOutputSerializer):
        impact = ImpactSummaryField(help_text="the gate's verdict (pending until judged)")
        drift = DriftSummaryField(allow_null=True, help_text="null until prediction samples arrive")

    @extend_schema(responses={200: OutputSerializer}, summary="One deploy, with impact and drift summaries")
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(Deploy.objects.for_timeline(), project=request.auth.project, pk=deploy_id)
        impact = impact_report_data(deploy=deploy)
        summary = {key: impact[key] for key in ("verdict", "score", "final", "reasons", "computed_at")}
        deploy.impact, deploy.drift = summary, drift_summary(deploy=deploy)
        return Response(self.OutputSerializer(deploy).data)


class DoraApi(APIView):
    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        days = serializers.IntegerField(min_value=1, max_value=365, default=30)
        service = serializers.CharField(max_length=100, required=False)
        environment = serializers.CharField(max_length=50, required=False)
        production_only = serializers.BooleanField(default=True)

    class RowSerializer(serializers.Serializer):
        service = serializers.CharField()
        environment = serializers.CharField()
        deploys = serializers.IntegerField()
        deploys_per_day = serializers.FloatField(allow_null=True)
        lead_time_hours = serializers.FloatField(allow_null=True)
        lead_time_n = serializers.IntegerField()
        change_failures = serializers.IntegerField()
        change_failure_rate = serializers.FloatField(allow_null=True)
        time_to_restore_hours = serializers.FloatField(allow_null=True)
        restores_n = serializers.IntegerField()

    class OutputSerializer(serializers.Serializer):
        since = serializers.DateTimeField()
        until = serializers.DateTimeField()
        days = serializers.IntegerField()
        production_only = serializers.BooleanField()
        rows = serializers.ListField(child=serializers.DictField())
        definitions = serializers.DictField(child=serializers.CharField())

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: OutputSerializer},
        summary="DORA figures per service and environment over a window",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return Response(dora_report(project=request.auth.project, **filters.validated_data))
