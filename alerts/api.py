"""Alerts API: list, acknowledge, resolve; silences (Alertmanager's shape); channels (scope admin, secrets
write-only); rules."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import engine, selectors, services
from alerts.models import (
    Alert,
    AlertRule,
    AlertStatus,
    Channel,
    ChannelKind,
    RuleKind,
    Severity,
    Silence,
    StatusProvider,
    StatusWriteback,
)
from alerts.services.grouping import alerts_page_url
from alerts.services.silences import MAX_COMMENT, MAX_MATCHERS
from tracker.api_errors import ApiError
from tracker.auth import scope_required
from tracker.openapi import list_response
from tracker.operations import ApiOperations
from tracker.serializers import StrictSerializer


class AlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    fingerprint = serializers.CharField()
    status = serializers.CharField()
    severity = serializers.CharField()
    rule = serializers.CharField(source="rule_key")
    kind = serializers.CharField()
    title = serializers.CharField()
    numbers = serializers.JSONField()
    service = serializers.CharField(source="service.name")
    environment = serializers.CharField(source="environment.name")
    deploy = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_reason = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_deploy(self, alert: Alert) -> dict:
        return {"id": alert.deploy_id, "version": alert.deploy.version}

    def get_url(self, alert: Alert) -> str:
        return f"{self.context['alerts_url']}#alert-{alert.pk}"


class AlertListApi(APIView):
    permission_classes = [scope_required("read")]

    class FilterSerializer(StrictSerializer):
        status = serializers.ChoiceField(choices=["open", *AlertStatus.values], required=False)
        service = serializers.CharField(max_length=100, required=False)
        environment = serializers.CharField(max_length=50, required=False)
        deploy = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
        limit = serializers.IntegerField(min_value=1, max_value=500, required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: list_response(AlertOutputSerializer)},
        summary="Alerts, newest first (each with its fingerprint)",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        alerts = selectors.alert_list(
            project=request.auth.project,
            status=data.get("status"),
            service=data.get("service"),
            environment=data.get("environment"),
            deploy_id=data.get("deploy"),
            limit=data.get("limit", 100),
        )
        context = {"alerts_url": alerts_page_url(request.auth.project.slug)}
        return Response({"results": AlertOutputSerializer(alerts, many=True, context=context).data})


def _alert_for(request: Request, alert_id: int) -> Alert:
    return get_object_or_404(
        Alert.objects.select_related("deploy", "service", "environment"), project=request.auth.project, pk=alert_id
    )


class AlertAckApi(APIView):
    permission_classes = [scope_required("rollback")]

    @extend_schema(request=None, responses={200: AlertOutputSerializer}, summary="Acknowledge an alert")
    def post(self, request: Request, alert_id: int) -> Response:
        alert = _alert_for(request, alert_id)
        alert = services.alert_acknowledge(alert=alert, token=request.auth)
        context = {"alerts_url": alerts_page_url(request.auth.project.slug)}
        return Response(AlertOutputSerializer(_alert_for(request, alert.pk), context=context).data)


class AlertResolveApi(APIView):
    permission_classes = [scope_required("rollback")]

    @extend_schema(request=None, responses={200: AlertOutputSerializer}, summary="Resolve an alert")
    def post(self, request: Request, alert_id: int) -> Response:
        alert = _alert_for(request, alert_id)
        alert = services.alert_resolve(alert=alert, token=request.auth)
        context = {"alerts_url": alerts_page_url(request.auth.project.slug)}
        return Response(AlertOutputSerializer(_alert_for(request, alert.pk), context=context).data)


# --- silences ------------------------------------------------------------------------------------
# Field names are Alertmanager's API v2 (postableSilence, gettableSilence, matcher), so its tools' bodies fit.

_OPERATORS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
_FLAGS = {op: flags for flags, op in _OPERATORS.items()}
_SILENCE_FIELDS = {"starts_at": "startsAt", "ends_at": "endsAt"}


class SilenceMatcherSerializer(StrictSerializer):
    name = serializers.CharField(max_length=engine.MAX_MATCHER_NAME, trim_whitespace=False)
    value = serializers.CharField(max_length=engine.MAX_MATCHER_VALUE, allow_blank=True, trim_whitespace=False)
    isRegex = serializers.BooleanField(help_text="an RE2 regular expression, anchored at both ends")
    isEqual = serializers.BooleanField(default=True, help_text="false negates the matcher (!= or !~)")


class SilenceStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["pending", "active", "expired"])


class SilenceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    matchers = serializers.SerializerMethodField()
    startsAt = serializers.DateTimeField(source="starts_at")
    endsAt = serializers.DateTimeField(source="ends_at")
    createdBy = serializers.CharField(source="creator", help_text="the user, or the name of the token")
    comment = serializers.CharField()
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field(SilenceStatusSerializer)
    def get_status(self, silence: Silence) -> dict:
        return {"state": silence.state(self.context["now"])}

    @extend_schema_field(SilenceMatcherSerializer(many=True))
    def get_matchers(self, silence: Silence) -> list[dict]:
        return [
            {"name": m["name"], "value": m["value"], "isRegex": is_regex, "isEqual": is_equal}
            for m in silence.matchers
            for is_regex, is_equal in [_FLAGS[m["op"]]]
        ]


class SilenceInputSerializer(StrictSerializer):
    matchers = SilenceMatcherSerializer(many=True, allow_empty=False, max_length=MAX_MATCHERS)
    startsAt = serializers.DateTimeField(required=False, help_text="default now; a time in the past means now")
    endsAt = serializers.DateTimeField(help_text="after startsAt, at most 30 days later")
    comment = serializers.CharField(max_length=MAX_COMMENT, required=False, allow_blank=True, default="")


class SilenceListApi(APIView):
    permission_classes = [scope_required("rollback", "admin")]

    class FilterSerializer(StrictSerializer):
        state = serializers.ChoiceField(choices=["pending", "active", "expired"], required=False)
        limit = serializers.IntegerField(min_value=1, max_value=500, required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: list_response(SilenceOutputSerializer)},
        summary="Silences, newest first",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        now = timezone.now()
        silences = selectors.silence_list(
            project=request.auth.project,
            now=now,
            state=filters.validated_data.get("state"),
            limit=filters.validated_data.get("limit", 100),
        )
        return Response({"results": SilenceOutputSerializer(silences, many=True, context={"now": now}).data})


class SilenceCreateApi(APIView):
    permission_classes = [scope_required("rollback", "admin")]

    @extend_schema(
        request=SilenceInputSerializer,
        responses={201: SilenceOutputSerializer},
        summary="Silence the alerts that match every matcher, from startsAt to endsAt",
    )
    def post(self, request: Request) -> Response:
        data = SilenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        try:
            silence = services.silence_create(
                project=request.auth.project,
                matchers=[
                    {"name": m["name"], "value": m["value"], "op": _OPERATORS[m["isRegex"], m["isEqual"]]}
                    for m in given["matchers"]
                ],
                starts_at=given.get("startsAt"),
                ends_at=given["endsAt"],
                comment=given["comment"],
                token=request.auth,
            )
        except services.SilenceError as exc:
            # The same refusal, its fields named as the API names them (Alertmanager's startsAt, endsAt).
            raise services.SilenceError(
                {_SILENCE_FIELDS.get(key, key): msgs for key, msgs in exc.fields.items()}
            ) from None
        silence = Silence.objects.select_related("created_by_token").get(pk=silence.pk)
        return Response(SilenceOutputSerializer(silence, context={"now": timezone.now()}).data, status=201)


class SilenceCollectionApi(ApiOperations):
    """GET lists, POST creates; both need the rollback or the admin scope."""

    operations = {"get": SilenceListApi, "post": SilenceCreateApi}


class SilenceExpireApi(APIView):
    permission_classes = [scope_required("rollback", "admin")]

    @extend_schema(responses={204: None}, summary="End a silence now (Alertmanager's DELETE expires it)")
    def delete(self, request: Request, silence_id: int) -> Response:
        silence = get_object_or_404(Silence, project=request.auth.project, pk=silence_id)
        services.silence_expire(silence=silence, token=request.auth)
        return Response(status=204)


# --- channels ------------------------------------------------------------------------------------


class ChannelOutputSerializer(serializers.Serializer):
    """Secrets are write-only: only the URL's scheme and host are ever shown back."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    url_hint = serializers.CharField()
    has_secret = serializers.SerializerMethodField()
    email_to = serializers.ListField(child=serializers.CharField())
    change_events = serializers.BooleanField(help_text="PagerDuty: production deploys are sent as change events")
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_has_secret(self, channel: Channel) -> bool:
        return bool(channel.secret_encrypted)


class ChannelCreatedSerializer(ChannelOutputSerializer):
    signing_secret = serializers.CharField(required=False, help_text="a generated webhook secret, shown this once")


class ChannelInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ChannelKind.values)
    url = serializers.CharField(max_length=2048, required=False)
    secret = serializers.CharField(max_length=200, required=False, write_only=True)
    email_to = serializers.ListField(child=serializers.CharField(max_length=254), max_length=20, required=False)
    change_events = serializers.BooleanField(required=False)


class ChannelListApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={200: list_response(ChannelOutputSerializer)}, summary="Alert channels")
    def get(self, request: Request) -> Response:
        channels = Channel.objects.filter(project=request.auth.project)
        return Response({"results": ChannelOutputSerializer(channels, many=True).data})


class ChannelCreateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=ChannelInputSerializer,
        responses={201: ChannelCreatedSerializer},
        summary="Create a channel (a webhook's generated signing secret is shown once)",
    )
    def post(self, request: Request) -> Response:
        data = ChannelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel, generated = services.channel_create(
            project=request.auth.project, token=request.auth, **data.validated_data
        )
        body = ChannelOutputSerializer(channel).data
        if generated:
            body["signing_secret"] = generated
        return Response(body, status=201)


class ChannelCollectionApi(ApiOperations):
    """GET lists, POST creates; both need the admin scope."""

    operations = {"get": ChannelListApi, "post": ChannelCreateApi}


class ChannelUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.CharField(max_length=2048, required=False)
    secret = serializers.CharField(max_length=200, required=False, write_only=True)
    email_to = serializers.ListField(child=serializers.CharField(max_length=254), max_length=20, required=False)
    change_events = serializers.BooleanField(required=False)
    enabled = serializers.BooleanField(required=False)


def _channel_for(request: Request, channel_id: int) -> Channel:
    return get_object_or_404(Channel, project=request.auth.project, pk=channel_id)


class ChannelGetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={200: ChannelOutputSerializer}, summary="One channel")
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(ChannelOutputSerializer(_channel_for(request, channel_id)).data)


class ChannelUpdateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=ChannelUpdateSerializer, responses={200: ChannelOutputSerializer}, summary="Change a channel"
    )
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = _channel_for(request, channel_id)
        data = ChannelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_update(channel=channel, token=request.auth, **data.validated_data)
        return Response(ChannelOutputSerializer(channel).data)


class ChannelDeleteApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={204: None}, summary="Delete a channel")
    def delete(self, request: Request, channel_id: int) -> Response:
        services.channel_delete(channel=_channel_for(request, channel_id), token=request.auth)
        return Response(status=204)


class ChannelDetailApi(ApiOperations):
    operations = {"get": ChannelGetApi, "patch": ChannelUpdateApi, "delete": ChannelDeleteApi}


class TestQueuedSerializer(serializers.Serializer):
    delivery = serializers.CharField(help_text="the delivery's webhook-id")
    status = serializers.CharField()


class ChannelTestApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(request=None, responses={202: TestQueuedSerializer}, summary="Queue a test notification")
    def post(self, request: Request, channel_id: int) -> Response:
        channel = get_object_or_404(Channel, project=request.auth.project, pk=channel_id)
        delivery = services.channel_test(channel=channel, token=request.auth)
        return Response({"delivery": delivery.message_id, "status": delivery.status}, status=202)


# --- status write-back ------------------------------------------------------------------------------

STATUS_WRITEBACK_DOC = """Verdicts written back where people already look: when a deploy's verdict changes, a GitHub
deployment status (for a deploy that came from a GitHub deployment) or commit status, or a GitLab commit status, with
the verdict, its score and a link to the deploy page. `repositories` maps service names to `owner/repo` (GitHub)
or a project path or ID (GitLab); services not listed get no status. The token is write-only (`has_token`).
Statuses go through the alerts outbox: retried with backoff, every attempt logged, the SSRF guard applied."""


class StatusWritebackOutputSerializer(serializers.Serializer):
    provider = serializers.CharField()
    enabled = serializers.BooleanField()
    api_url = serializers.CharField()
    repositories = serializers.DictField(child=serializers.CharField())
    context = serializers.CharField()
    has_token = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_has_token(self, writeback: StatusWriteback) -> bool:
        return bool(writeback.token_encrypted)


class StatusWritebackInputSerializer(StrictSerializer):
    enabled = serializers.BooleanField(required=False, default=True)
    api_url = serializers.URLField(max_length=500, required=False)
    token = serializers.CharField(max_length=500, required=False, write_only=True)
    repositories = serializers.DictField(child=serializers.CharField(max_length=300), allow_empty=True)
    context = serializers.RegexField(r"^[A-Za-z0-9_.-]{1,60}\Z", required=False, default="deploy-tracker")


def _provider(provider: str) -> str:
    if provider not in StatusProvider.values:
        raise ApiError("not_found", f"no status write-back for {provider[:50]!r}: github or gitlab", 404)
    return provider


class StatusWritebackGetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        responses={200: StatusWritebackOutputSerializer},
        summary="A provider's status write-back (the token is write-only)",
        description=STATUS_WRITEBACK_DOC,
    )
    def get(self, request: Request, provider: str) -> Response:
        found = StatusWriteback.objects.filter(project=request.auth.project, provider=_provider(provider)).first()
        if found is None:
            raise ApiError("not_found", f"no {provider} status write-back is configured", 404)
        return Response(StatusWritebackOutputSerializer(found).data)


class StatusWritebackSetApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        request=StatusWritebackInputSerializer,
        responses={200: StatusWritebackOutputSerializer},
        summary="Set a provider's status write-back (a token left out keeps the stored one)",
        description=STATUS_WRITEBACK_DOC,
    )
    def put(self, request: Request, provider: str) -> Response:
        provider = _provider(provider)
        data = StatusWritebackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        writeback = services.status_writeback_set(
            project=request.auth.project, provider=provider, api_token=request.auth, **data.validated_data
        )
        return Response(StatusWritebackOutputSerializer(writeback).data)


class StatusWritebackApi(ApiOperations):
    operations = {"get": StatusWritebackGetApi, "put": StatusWritebackSetApi}


# --- rules -----------------------------------------------------------------------------------------


class RuleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    column = serializers.CharField()
    services = serializers.ListField(child=serializers.CharField())
    environments = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()


class RuleInputSerializer(StrictSerializer):
    key = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=RuleKind.values)
    severity = serializers.ChoiceField(choices=Severity.values, required=False)
    threshold = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    column = serializers.CharField(max_length=200, required=False, allow_blank=True)
    services = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100, required=False)
    environments = serializers.ListField(child=serializers.CharField(max_length=50), max_length=100, required=False)
    enabled = serializers.BooleanField(required=False)

    def validate(self, data: dict) -> dict:
        if data.get("kind") == RuleKind.COLUMN_DRIFT and not data.get("column"):
            raise serializers.ValidationError({"column": ["a column rule needs a column name or glob"]})
        return data


class RuleListApi(APIView):
    permission_classes = [scope_required("read")]

    @extend_schema(responses={200: list_response(RuleOutputSerializer)}, summary="Alert rules")
    def get(self, request: Request) -> Response:
        return Response(
            {"results": RuleOutputSerializer(selectors.rule_list(project=request.auth.project), many=True).data}
        )


class RuleCreateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(request=RuleInputSerializer, responses={201: RuleOutputSerializer}, summary="Create a rule")
    def post(self, request: Request) -> Response:
        data = RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.alert_rule_save(project=request.auth.project, token=request.auth, **data.validated_data)
        return Response(RuleOutputSerializer(rule).data, status=201)


class RuleCollectionApi(ApiOperations):
    operations = {"get": RuleListApi, "post": RuleCreateApi}


class RuleUpdateSerializer(RuleInputSerializer):
    key = None
    kind = None


class RuleUpdateApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(request=RuleUpdateSerializer, responses={200: RuleOutputSerializer}, summary="Change a rule")
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = get_object_or_404(AlertRule, project=request.auth.project, pk=rule_id)
        data = RuleUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rule = services.alert_rule_save(project=rule.project, rule=rule, token=request.auth, **data.validated_data)
        return Response(RuleOutputSerializer(rule).data)


class RuleDeleteApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(responses={204: None}, summary="Delete a rule (its open alerts resolve)")
    def delete(self, request: Request, rule_id: int) -> Response:
        rule = get_object_or_404(AlertRule, project=request.auth.project, pk=rule_id)
        services.alert_rule_delete(rule=rule, token=request.auth)
        return Response(status=204)


class RuleDetailApi(ApiOperations):
    operations = {"patch": RuleUpdateApi, "delete": RuleDeleteApi}
