"""Drift API: post prediction samples, read a deploy's drift report."""

from __future__ import annotations

import time

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Deploy
from metrics.drift import selectors
from metrics.drift.models import DriftReport
from metrics.drift.services import samples_ingest
from metrics.payloads import MAX_BATCH_ID_LENGTH, BatchId, is_valid
from metrics.predictions import SamplesInvalid, decode_batch, predictions_json_schema
from tracker.api_errors import ApiError
from tracker.auth import scope_required, signed_body_check
from tracker.openapi import SIGNATURE_HEADERS

ROW_EXAMPLE = {
    "service": "fraud-scorer",
    "environment": "production",
    "batch_id": "scorer-7-000123",
    "rows": [
        {
            "timestamp": "2026-11-28T09:30:00Z",
            "features": {"amount": 120.5, "country": "DE", "is_new_customer": False},
            "prediction": 0.08,
            "label": 0,
        }
    ],
}
COLUMNAR_EXAMPLE = {
    "service": "fraud-scorer",
    "environment": "production",
    "deploy": "2026.11.3",
    "columns": {"amount": [120.5, 9.99, None], "country": ["DE", "FR", "DE"]},
    "prediction": [0.08, 0.91, 0.12],
    "label": [0, 1, None],
}


class IngestOutputSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    deploys = serializers.DictField(child=serializers.IntegerField(), help_text="deploy id -> rows attributed to it")
    new_columns = serializers.ListField(child=serializers.CharField(), help_text="columns learned from this batch")
    duplicate = serializers.BooleanField(help_text="true when this batch_id was stored before: nothing was counted")


class SamplesIngestApi(APIView):
    """POST /api/v1/predictions — scope `ingest`. Row or columnar form, up to 10,000 rows."""

    permission_classes = [scope_required("ingest")]

    @extend_schema(
        request={"application/json": predictions_json_schema()},
        responses={202: IngestOutputSerializer},
        examples=[OpenApiExample("row form", ROW_EXAMPLE), OpenApiExample("columnar form", COLUMNAR_EXAMPLE)],
        summary="Post a batch of prediction samples",
        parameters=[
            *SIGNATURE_HEADERS,
            OpenApiParameter(
                "Idempotency-Key", str, location=OpenApiParameter.HEADER, required=False,
                description="the batch's id when its body has no batch_id: a retried batch stores nothing twice",
            ),
            OpenApiParameter("batch_id", str, description="the same, as a query parameter"),
        ],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        project = request.auth.project
        signed_body_check(request, project)
        if "json" not in (request.content_type or ""):
            raise ApiError("unsupported_media_type", "send application/json", 415)
        batch = decode_batch(request._request.body, now=time.time())
        batch.batch_id = batch.batch_id or _batch_id_from(request)
        result = samples_ingest(project=project, batch=batch)
        return Response(IngestOutputSerializer(result).data, status=202)


def _batch_id_from(request: Request) -> str | None:
    """A batch id sent beside the body (as the metrics endpoint takes it): the Idempotency-Key header, else
    ?batch_id=."""
    batch_id = request.headers.get("Idempotency-Key") or request.query_params.get("batch_id")
    if not is_valid(batch_id, BatchId | None):
        raise SamplesInvalid("batch_id is not valid", {"batch_id": [f"1-{MAX_BATCH_ID_LENGTH} characters"]})
    return batch_id


class DeployDriftApi(APIView):
    """GET /api/v1/deploys/{id}/drift — scope `read`."""

    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="A deploy's full drift report")
    def get(self, request: Request, deploy_id: int) -> Response:
        deploy = get_object_or_404(
            Deploy.objects.select_related("baseline"), project=request.auth.project, pk=deploy_id
        )
        return Response(drift_document(deploy, selectors.drift_report_get(deploy=deploy)))


def drift_document(deploy: Deploy, report: DriftReport | None) -> dict:
    """The report as the API shows it; `status` says why there is none yet."""
    if report is None:
        return {"deploy": deploy.pk, "status": "no_data", "baseline": deploy.baseline_id, "columns": []}
    body = {
        "deploy": deploy.pk,
        "baseline": report.baseline_id,
        "status": report.status,
        "final": report.final,
        "computed_at": report.computed_at,
        "compute_ms": report.compute_ms,
        "n_columns": report.n_columns,
        "n_drifted": report.n_drifted,
        "n_expected": report.n_expected,
        "drift_share": report.drift_share,
        "dataset_drift": report.dataset_drift,
        "prediction_drift_cause": report.prediction_drift_cause or None,
        "expected_drift": deploy.expected_drift or [],
    }
    result = report.result or {}
    body["drift_share_threshold"] = result.get("drift_share_threshold")
    body["columns"] = result.get("columns", [])
    # Realised quality from the labels posted with the predictions, on both sides (None without labels).
    body["quality"] = result.get("quality", {"baseline": None, "current": None})
    # Fairness across the service's sensitive columns' groups (null when the service names none).
    body["fairness"] = result.get("fairness")
    return body
