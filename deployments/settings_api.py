"""GET, PATCH /api/v1/services/{service}/settings: every per-service analysis setting in one place."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import analysis_settings as limits
from deployments.selectors import service_settings_get
from deployments.settings_services import service_settings_update
from tracker.auth import scope_required
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer

# A metric label key (Prometheus' rule) and a prediction feature or check name.
_LABEL_KEY = r"^[A-Za-z_][A-Za-z0-9_]*\Z"
_NAME = r"^[^\x00-\x1f\x7f]{1,200}\Z"

ENVIRONMENT_PARAMETER = OpenApiParameter(
    "environment",
    str,
    required=False,
    description="an environment's name: read or change that environment's override (fields it leaves empty "
    "inherit the service's values); without it, the service's own settings",
)


class _UniqueList(serializers.ListField):
    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if len(set(values)) != len(values):
            raise serializers.ValidationError("each value at most once")
        return values


class ServiceSettingsOutputSerializer(serializers.Serializer):
    service = serializers.CharField()
    environment = serializers.CharField(allow_null=True, help_text="the environment whose override this is, if any")
    observation_window_minutes = serializers.IntegerField(
        help_text="minutes after a deploy during which it is re-judged; its verdict is final at the end"
    )
    warmup_minutes = serializers.IntegerField(
        help_text="minutes after a deploy before its current window starts (metrics without their own setting)"
    )
    seasonal_baseline = serializers.BooleanField(
        help_text="judge against the same hour a week earlier (metrics without their own setting)"
    )
    impact_mode = serializers.ChoiceField(
        choices=limits.IMPACT_MODES,
        help_text="auto: concurrent when the deploy runs beside its baseline (canary, ab, shadow, or traffic "
        "below 100 %) and the baseline still gets points in the window, else sequential",
    )
    segment_labels = serializers.ListField(
        child=serializers.CharField(), help_text="metric label keys judged per segment (largest 20 values each)"
    )
    sensitive_columns = serializers.ListField(
        child=serializers.CharField(), help_text="prediction features whose groups are checked for fairness"
    )
    classification_threshold = serializers.FloatField(help_text="a score at or above it is the positive class")
    required_checks = serializers.ListField(
        child=serializers.CharField(), help_text="CI check names the gate waits for (failed: degraded)"
    )
    overrides = serializers.ListField(
        child=serializers.CharField(), help_text="the fields set at this level; the others are inherited"
    )


def _answer(service, environment, values) -> dict:
    return ServiceSettingsOutputSerializer(
        {
            "service": service.name,
            "environment": environment.name if environment else None,
            **values.as_dict(),
            "overrides": sorted(values.set_here),
        }
    ).data


def _environment_name(request: Request) -> str | None:
    return request.query_params.get("environment") or None


class ServiceSettingsGetApi(APIView):
    permission_classes = [scope_required("read")]

    @extend_schema(
        parameters=[ENVIRONMENT_PARAMETER],
        responses={200: ServiceSettingsOutputSerializer},
        summary="A service's analysis settings (resolved; `overrides` says which are set at this level)",
    )
    def get(self, request: Request, service_name: str) -> Response:
        found, environment, values = service_settings_get(
            project=request.auth.project, service_name=service_name, environment_name=_environment_name(request)
        )
        return Response(_answer(found, environment, values))


class ServiceSettingsUpdateApi(APIView):
    permission_classes = [scope_required("admin")]

    class InputSerializer(StrictSerializer):
        """Each field given is set at this level; null makes it inherit again. Fields not given stay as they are."""

        observation_window_minutes = serializers.IntegerField(
            min_value=1, max_value=limits.MAX_WINDOW_MINUTES, required=False, allow_null=True
        )
        warmup_minutes = serializers.IntegerField(
            min_value=0, max_value=limits.MAX_WARMUP_MINUTES, required=False, allow_null=True
        )
        seasonal_baseline = serializers.BooleanField(required=False, allow_null=True)
        impact_mode = serializers.ChoiceField(choices=limits.IMPACT_MODES, required=False, allow_null=True)
        segment_labels = _UniqueList(
            child=serializers.RegexField(_LABEL_KEY, max_length=100),
            max_length=limits.MAX_SEGMENT_LABELS,
            required=False,
            allow_null=True,
        )
        sensitive_columns = _UniqueList(
            child=serializers.RegexField(_NAME),
            max_length=limits.MAX_SENSITIVE_COLUMNS,
            required=False,
            allow_null=True,
        )
        classification_threshold = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
        required_checks = _UniqueList(
            child=serializers.RegexField(_NAME),
            max_length=limits.MAX_REQUIRED_CHECKS,
            required=False,
            allow_null=True,
        )

    @extend_schema(
        parameters=[ENVIRONMENT_PARAMETER],
        request=InputSerializer,
        responses={200: ServiceSettingsOutputSerializer},
        summary="Change a service's analysis settings (or an environment's override); audited",
    )
    def patch(self, request: Request, service_name: str) -> Response:
        found, environment, _ = service_settings_get(
            project=request.auth.project, service_name=service_name, environment_name=_environment_name(request)
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = service_settings_update(
            service=found, environment=environment, changes=dict(data.validated_data), token=request.auth
        )
        return Response(_answer(found, environment, values))


class ServiceSettingsApi(ApiOperations):
    """A service's analysis settings: read with scope read, change with scope admin."""

    operations = {"get": ServiceSettingsGetApi, "patch": ServiceSettingsUpdateApi}
