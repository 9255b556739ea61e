from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, router, transaction
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from deployments.analysis_settings import IMPACT_MODES, AnalysisSettings, resolve
from tracker.models import Project

PRODUCTION_NAMES = {"production", "prod", "prd", "live"}


class Service(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="service_unique_name")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        _save_retagging_on_rename(self, super().save, args, kwargs, field="service")

    def analysis_settings(self, environment_id: int | None = None) -> AnalysisSettings:
        """This service's analysis settings for one environment (its override) or its own; reads `settings_rows`,
        so a `prefetch_related("service__settings_rows")` makes it free for a page of deploys."""
        return resolve(
            rows=self.settings_rows.all(),
            environment_id=environment_id,
            default_window_minutes=settings.OBSERVATION_WINDOW_MINUTES,
        )


class Environment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=50)
    is_production = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="environment_unique_name")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        _save_retagging_on_rename(self, super().save, args, kwargs, field="environment")


class Status(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Strategy(models.TextChoices):
    ROLLING = "rolling"
    BLUE_GREEN = "blue_green"
    CANARY = "canary"
    SHADOW = "shadow"
    AB = "ab"


def _save_retagging_on_rename(stream: Service | Environment, save, args, kwargs, *, field: str) -> None:
    """Save a service or environment; if that gives it another name, its deploys (`Deploy.<field>`) get new change
    tags (the timeline's chart names each deploy's stream)."""
    with transaction.atomic():
        stored = None
        if not stream._state.adding:
            stored = type(stream)._base_manager.filter(pk=stream.pk).values_list("name", flat=True).first()
        save(*args, **kwargs)
        if stored is not None and stored != stream.name:
            Deploy.objects.filter(**{field: stream}).retag()


def new_tag() -> int:
    """A deploy's fresh change tag: random, so two writers never compute one from the other (31 bits: the sum
    over thousands of deploys stays within a 64-bit integer on every database)."""
    return secrets.randbits(31)


class DeployQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """Every update gives the deploys a new change tag (`Deploy.tag`)."""
        kwargs.setdefault("tag", new_tag())
        return super().update(**kwargs)

    def retag(self) -> int:
        """A new change tag for these deploys: what the timeline draws of them changed elsewhere (a report)."""
        return self.update(tag=new_tag())

    def stamp(self) -> tuple[int, int, int]:
        """(number, sum of ids, sum of change tags) of these deploys, one query: it changes whenever one of them is
        added, removed or changed, so what is drawn from them can be kept under it. Slice first for a bounded
        set (aggregated as a subquery)."""
        found = self.values("pk", "tag").aggregate(n=Count("pk"), ids=Sum("pk"), tags=Sum("tag"))
        return found["n"], found["ids"] or 0, found["tags"] or 0

    def for_timeline(self) -> DeployQuerySet:
        return self.select_related("service", "environment", "baseline").order_by("-deployed_at", "-id")

    def succeeded_before(self, deploy: Deploy) -> DeployQuerySet:
        """Succeeded (not rolled back) deploys of the same stream that went out before this one, newest first.
        A shadow deploy never served traffic: it is neither a later deploy's baseline nor a rollback target."""
        return (
            self.filter(
                service_id=deploy.service_id,
                environment_id=deploy.environment_id,
                status=Status.SUCCEEDED,
                deployed_at__lt=deploy.deployed_at,
            )
            .exclude(pk=deploy.pk)
            .exclude(strategy=Strategy.SHADOW)
            .order_by("-deployed_at", "-id")
        )

    def live(self) -> DeployQuerySet:
        """Deploys that count as what is running: succeeded and not rolled back."""
        return self.filter(status=Status.SUCCEEDED)

    def with_check_counts(self) -> DeployQuerySet:
        """Each deploy's CI checks counted by status, in the same query (the timeline's badge)."""
        counts = {}
        for name, status in (("checks_total", None), ("checks_failed", CheckStatus.FAILED)):
            checks = DeployCheck.objects.filter(deploy=OuterRef("pk"))
            if status is not None:
                checks = checks.filter(status=status)
            count = checks.order_by().values("deploy").annotate(n=Count("pk")).values("n")
            counts[name] = Coalesce(Subquery(count), 0)
        return self.annotate(**counts)


class Deploy(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deploys")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="deploys")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="deploys")
    version = models.CharField(max_length=100)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUCCEEDED)

    commit_sha = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=255, blank=True)
    author = models.CharField(max_length=200, blank=True)
    ci_url = models.URLField(max_length=2000, blank=True)
    # Where the deployed environment answers (GitHub environment_url, GitLab environment_external_url).
    environment_url = models.URLField(max_length=2000, blank=True)
    changelog = models.TextField(blank=True)
    commit_timestamp = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the deploy went live (finished, else started, else received): the timeline's order.
    deployed_at = models.DateTimeField(db_index=True)

    model_name = models.CharField(max_length=200, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    model_uri = models.CharField(max_length=1000, blank=True)
    model_run_id = models.CharField(max_length=100, blank=True)
    model_digest = models.CharField(max_length=200, blank=True)
    data_version = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, blank=True)
    traffic_percent = models.FloatField(null=True, blank=True)
    expected_drift = models.JSONField(default=list, blank=True)

    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Set on a deploy that put an earlier version back; the deploys it undid point to it.
    is_rollback = models.BooleanField(default=False)
    rolled_back_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rolled_back_deploys"
    )
    # "What changed" against the baseline, written by the deploy task.
    changes = models.JSONField(null=True, blank=True)
    processing_claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A new random value on every write to the deploy or to a report the timeline draws (DeployQuerySet.stamp):
    # the timeline's chart is kept per process under the sum of its deploys' tags.
    tag = models.IntegerField(default=new_tag)

    objects = DeployQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="deploy_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in Status]), name="deploy_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(traffic_percent__isnull=True)
                | models.Q(traffic_percent__gte=0, traffic_percent__lte=100),
                name="deploy_traffic_percent_range",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-deployed_at"], name="deploy_project_time"),
            models.Index(fields=["service", "environment", "-deployed_at"], name="deploy_stream_time"),
        ]

    def __str__(self) -> str:
        return f"{self.service.name} {self.version} → {self.environment.name}"

    def save(self, *args, **kwargs) -> None:
        self.tag = new_tag()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "tag"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("deploy_detail", args=[self.project.slug, self.pk])

    @property
    def window_minutes(self) -> int:
        """Minutes after going out during which this deploy is re-judged (its stream's observation window)."""
        return self.service.analysis_settings(self.environment_id).observation_window_minutes

    @property
    def runs_beside_baseline(self) -> bool:
        """A canary, A/B or shadow deploy, or one taking part of the traffic: its baseline keeps serving."""
        partial = self.traffic_percent is not None and self.traffic_percent < 100
        return partial or self.strategy in (Strategy.CANARY, Strategy.AB, Strategy.SHADOW)

    @property
    def short_sha(self) -> str:
        return self.commit_sha[:7]

    @property
    def window_ends_at(self) -> datetime:
        """When the deploy's observation window (its service's, re-judged every minute until then) ends."""
        return self.deployed_at + timedelta(minutes=self.window_minutes)

    @property
    def in_window(self) -> bool:
        return timezone.now() < self.window_ends_at

    @property
    def model_label(self) -> str:
        if not self.model_name and not self.model_version:
            return ""
        return f"{self.model_name}:{self.model_version}" if self.model_version else self.model_name


class CheckKind(models.TextChoices):
    SCHEMA = "schema"
    DATA_QUALITY = "data_quality"
    MODEL_QUALITY = "model_quality"
    BIAS = "bias"
    INTEGRATION = "integration"
    OTHER = "other"


class CheckStatus(models.TextChoices):
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"


class DeployCheck(models.Model):
    """The latest result of one CI check (schema, data quality, model quality, bias, …) of a deploy, by name."""

    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=CheckKind.choices)
    status = models.CharField(max_length=10, choices=CheckStatus.choices)
    metrics = models.JSONField(default=dict, blank=True)
    segments = models.JSONField(default=dict, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "name"], name="deploy_check_unique_name"),
            models.CheckConstraint(condition=models.Q(kind__in=CheckKind.values), name="deploy_check_kind_valid"),
            models.CheckConstraint(condition=models.Q(status__in=CheckStatus.values), name="deploy_check_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class ServiceSettings(models.Model):
    """A service's analysis settings (environment empty), or one environment's override of them.

    Every field left empty inherits: an environment's row from the service's row, the service's row from the
    defaults (deployments.analysis_settings). Read them resolved through Service.analysis_settings().
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="settings_rows")
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    observation_window_minutes = models.PositiveIntegerField(null=True, blank=True)
    warmup_minutes = models.PositiveIntegerField(null=True, blank=True)
    seasonal_baseline = models.BooleanField(null=True, blank=True)
    impact_mode = models.CharField(max_length=20, null=True, blank=True, choices=[(m, m) for m in IMPACT_MODES])
    segment_labels = models.JSONField(null=True, blank=True)
    sensitive_columns = models.JSONField(null=True, blank=True)
    classification_threshold = models.FloatField(null=True, blank=True)
    required_checks = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "service settings"
        verbose_name_plural = "service settings"
        constraints = [
            models.UniqueConstraint(
                fields=["service"], condition=models.Q(environment__isnull=True), name="service_settings_unique_own"
            ),
            models.UniqueConstraint(
                fields=["service", "environment"],
                condition=models.Q(environment__isnull=False),
                name="service_settings_unique_environment",
            ),
            models.CheckConstraint(
                condition=models.Q(impact_mode__isnull=True) | models.Q(impact_mode__in=IMPACT_MODES),
                name="service_settings_impact_mode",
            ),
            models.CheckConstraint(
                condition=models.Q(classification_threshold__isnull=True)
                | models.Q(classification_threshold__gte=0, classification_threshold__lte=1),
                name="service_settings_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} settings" + (f" in {self.environment}" if self.environment_id else "")


class DeployEvent(models.Model):
    """The deploy's own log: every event received for it and what the system did."""

    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=50)
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class HookSettings(models.Model):
    """A project's settings for native webhooks: service names for repositories, environments for aliases."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="hook_settings")
    # Repository path (GitHub full_name, GitLab path_with_namespace) or MLflow model name -> service name.
    service_names = models.JSONField(default=dict, blank=True)
    # MLflow alias -> environment; an alias not named here is its own environment.
    mlflow_environments = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "hook settings"

    def __str__(self) -> str:
        return f"webhook settings of {self.project}"


class ModelVersionRecord(models.Model):
    """An MLflow model version as its registry announced it: the lineage a later deploy of it carries."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100)
    run_id = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="model_version_record_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class DeployReportQuerySet(models.QuerySet):
    """A deploy's report whose `SHOWN` fields the timeline draws: writing them gives the deploy a new change tag,
    in the same transaction (a page that read the tags before it reads the report's new value or, drawn from the
    old one, is drawn again at the next request)."""

    def update(self, **kwargs) -> int:
        if not self.model.SHOWN.intersection(kwargs):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            Deploy.objects.filter(pk__in=list(self.values_list("deploy_id", flat=True))).retag()
            return super().update(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            Deploy.objects.filter(pk__in=[obj.deploy_id for obj in objs]).retag()
        return created


class DeployReport(models.Model):
    """Base of a deploy's report that the timeline draws (impact, drift): `SHOWN` names the fields it reads,
    `shown()` and `shown_columns()` what it draws of them (from the instance, and as the database reads it). A save
    that changes what is drawn gives the deploy a new change tag; the judges' recomputations every minute that
    reach the same verdict do not, so the chart stays kept."""

    SHOWN: frozenset[str] = frozenset()

    objects = DeployReportQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            stored = None
            if not self._state.adding:
                # What is stored now, read under the row's lock: another worker's save in between is compared too.
                columns = {f"shown_{n}": column for n, column in enumerate(self.shown_columns())}
                rows = type(self)._base_manager.using(using).select_for_update().filter(pk=self.pk)
                stored = rows.annotate(**columns).values_list(*columns).first()
            super().save(*args, **kwargs)
            if stored is None or tuple(stored) != self.shown():
                Deploy.objects.using(using).filter(pk=self.deploy_id).retag()

    @classmethod
    def shown_columns(cls) -> list:
        """What the timeline draws of a report, as the database reads it (the order of `shown()`)."""
        return [F(name) for name in sorted(cls.SHOWN)]

    def shown(self) -> tuple:
        """What the timeline draws of this report (its `SHOWN` fields unless a report says otherwise)."""
        return tuple(getattr(self, name) for name in sorted(self.SHOWN))
