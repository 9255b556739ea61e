"""Shadow API: a shadow or A/B deploy compared with its champion on the requests both scored."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Deploy
from metrics.shadow import selectors
from tracker.auth import scope_required

VERDICTS = ["better", "worse", "same", "insufficient_data"]
# The quality test's own verdict: it always decides (too few labelled pairs make the whole answer insufficient).
QUALITY_VERDICTS = VERDICTS[:3]


class AgreementSerializer(serializers.Serializer):
    share = serializers.FloatField(
        allow_null=True, help_text="classification: share of paired requests both put in the same class"
    )
    threshold = serializers.FloatField(allow_null=True, help_text="classification: a score at or above it is positive")
    mean_abs_diff = serializers.FloatField(help_text="mean |challenger - champion|")
    mean_abs_diff_over_champion_std = serializers.FloatField(
        allow_null=True, help_text="mean_abs_diff divided by the champion's standard deviation (null when it is 0)"
    )


class ShiftSerializer(serializers.Serializer):
    statistic = serializers.FloatField(help_text="scipy.stats.wilcoxon(challenger - champion).statistic")
    p = serializers.FloatField(help_text="its two-sided p-value (1 when every difference is 0)")
    mean_difference = serializers.FloatField()
    median_difference = serializers.FloatField()


class QualitySerializer(serializers.Serializer):
    test = serializers.ChoiceField(choices=["mcnemar_exact", "wilcoxon_abs_error"])
    n_labelled = serializers.IntegerField()
    p = serializers.FloatField()
    statistic = serializers.FloatField(allow_null=True, help_text="wilcoxon_abs_error: the Wilcoxon statistic")
    b = serializers.IntegerField(allow_null=True, help_text="mcnemar_exact: requests only the champion got right")
    c = serializers.IntegerField(allow_null=True, help_text="mcnemar_exact: requests only the challenger got right")
    challenger_accuracy = serializers.FloatField(allow_null=True)
    champion_accuracy = serializers.FloatField(allow_null=True)
    challenger_mae = serializers.FloatField(allow_null=True)
    champion_mae = serializers.FloatField(allow_null=True)
    verdict = serializers.ChoiceField(choices=QUALITY_VERDICTS)
    reason = serializers.CharField()


class ShadowOutputSerializer(serializers.Serializer):
    deploy = serializers.IntegerField()
    champion = serializers.IntegerField(allow_null=True, help_text="the baseline deploy this one runs beside")
    threshold = serializers.FloatField(help_text="the service's classification threshold")
    sample_size = serializers.IntegerField(help_text="requests kept per deploy at most (the storage bound)")
    sample_rate = serializers.FloatField(
        allow_null=True, help_text="share of the requests both sides keep (1 while neither saw more than sample_size)"
    )
    n_pairs = serializers.IntegerField(help_text="paired requests in the sample")
    task = serializers.ChoiceField(choices=["classification", "regression"], allow_null=True)
    agreement = AgreementSerializer(allow_null=True)
    shift = ShiftSerializer(allow_null=True, help_text="Wilcoxon signed-rank on the paired differences")
    quality = QualitySerializer(allow_null=True, help_text="with labels: which model is better")
    verdict = serializers.ChoiceField(choices=VERDICTS, help_text="at 95 %")
    reason = serializers.CharField()


class DeployShadowApi(APIView):
    """GET /api/v1/deploys/{id}/shadow — scope `read`."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: ShadowOutputSerializer}, summary="A shadow or A/B deploy against its champion")
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("service", "baseline"), project=request.auth.project, pk=deploy_id
        )
        return Response(ShadowOutputSerializer(selectors.shadow_comparison(deploy=deploy)).data)
