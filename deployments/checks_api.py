"""CI checks attached to a deploy: `POST /api/v1/deploys/{id}/checks` (scope ingest), `GET` (scope read)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.core.validators import URLValidator
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.checks_services import deploy_checks_record
from deployments.models import CheckKind, CheckStatus, Deploy
from deployments.selectors import deploy_checks, required_checks_state
from tracker.auth import scope_required
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer

MAX_CHECKS_PER_REQUEST = 100
MAX_CHECK_NAME_LENGTH = 200
MAX_SUMMARY_LENGTH = 4_000
# metrics and segments: a JSON object of at most this many characters once encoded, each.
MAX_OBJECT_CHARACTERS = 16_000
# A check name: printable, no control character or lone surrogate (neither can be stored as text).
_NAME = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")


class BoundedObjectField(serializers.JSONField):
    """A JSON object of at most MAX_OBJECT_CHARACTERS characters (encoded)."""

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object")
        try:
            size = len(orjson.dumps(data))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise serializers.ValidationError("must be plain JSON") from exc
        if size > MAX_OBJECT_CHARACTERS:
            raise serializers.ValidationError(f"at most {MAX_OBJECT_CHARACTERS:,} characters of JSON")
        return data


class CheckInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=MAX_CHECK_NAME_LENGTH, help_text="unique per deploy: a re-post replaces")
    kind = serializers.ChoiceField(choices=CheckKind.values)
    status = serializers.ChoiceField(choices=CheckStatus.values)
    metrics = BoundedObjectField(required=False, help_text='figures the check measured, e.g. {"auc": 0.91}')
    segments = BoundedObjectField(required=False, help_text='per-segment values, e.g. {"region=eu": {"auc": 0.9}}')
    url = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    summary = serializers.CharField(max_length=MAX_SUMMARY_LENGTH, required=False, allow_blank=True)

    def validate_name(self, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise serializers.ValidationError("no control characters")
        return value


class CheckOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    metrics = serializers.DictField()
    segments = serializers.DictField()
    url = serializers.CharField()
    summary = serializers.CharField()
    updated_at = serializers.DateTimeField()


class ChecksOutputSerializer(serializers.Serializer):
    results = CheckOutputSerializer(many=True, help_text="failed first, then warnings, then passed")
    required = serializers.DictField(
        child=serializers.CharField(),
        help_text="each check the service requires (setting required_checks): passed, failed, warning or missing",
    )


def _find_deploy(request: Request, deploy_id: int) -> Deploy:
    return get_object_or_404(
        Deploy.objects.select_related("service").prefetch_related("service__settings_rows"),
        project=request.auth.project,
        pk=deploy_id,
    )


def _answer(deploy: Deploy) -> dict:
    checks = deploy_checks(deploy=deploy)
    required = deploy.service.analysis_settings(deploy.environment_id).required_checks
    return {
        "results": CheckOutputSerializer(checks, many=True).data,
        "required": required_checks_state(required=required, checks=checks),
    }


class DeployCheckListApi(APIView):
    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: ChecksOutputSerializer}, summary="A deploy's CI checks")
    def get(self, request: Request, deploy_id: int) -> Response:
        return Response(_answer(_find_deploy(request, deploy_id)))


class DeployCheckRecordApi(APIView):
    """Record CI results (schema, data-quality, model-quality, bias, integration tests) for the deploy.

    Idempotent per check name: posting a name again replaces its result, so the latest status counts.
    """

    permission_classes = [scope_required("ingest")]

    class InputSerializer(StrictSerializer):
        checks = serializers.ListField(
            child=CheckInputSerializer(), min_length=1, max_length=MAX_CHECKS_PER_REQUEST, allow_empty=False
        )

        def validate_checks(self, value: list[dict]) -> list[dict]:
            names = [c["name"] for c in value]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise serializers.ValidationError(f"a name appears twice in one request: {', '.join(repeated)}")
            return value

    @extend_schema(request=InputSerializer, responses={200: ChecksOutputSerializer}, summary="Record CI checks")
    def post(self, request: Request, deploy_id: int) -> Response:
        deploy = _find_deploy(request, deploy_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deploy_checks_record(deploy=deploy, checks=data.validated_data["checks"])
        return Response(_answer(deploy))


class DeployChecksApi(ApiOperations):
    """A deploy's CI checks: GET lists them (scope read), POST records results (scope ingest)."""

    operations = {"get": DeployCheckListApi, "post": DeployCheckRecordApi}
