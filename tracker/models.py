from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,49}$", "lowercase letters, digits and dashes")


class Project(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    # When set, inbound deploy events must carry a valid Standard Webhooks signature.
    require_signed_webhooks = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_project_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "deployer", "admin"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def can_deploy(self) -> bool:
        return self.role in (Role.DEPLOYER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class Scope(models.TextChoices):
    INGEST = "ingest"
    READ = "read"
    ROLLBACK = "rollback", "Rollback and promotion"
    ADMIN = "admin"


class ApiToken(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    # The first characters of the token, kept to tell tokens apart; the rest is only hashed.
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class SigningSecret(models.Model):
    """A project's inbound Standard Webhooks secret; several may be active during rotation."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="signing_secrets")
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"signing secret #{self.pk} of {self.project}"


class AuditLog(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_entries")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["project", "-at"], name="audit_project_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    @property
    def actor(self) -> str:
        if self.actor_user_id:
            return str(self.actor_user)
        if self.actor_token_id:
            return f"token {self.actor_token}"
        return "system"


class IdempotencyRecord(models.Model):
    """A processed request remembered by its key (Idempotency-Key, webhook-id, batch_id)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "kind", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class Provider(models.TextChoices):
    GITHUB = "github"
    GITLAB = "gitlab"
    MLFLOW = "mlflow"


class ProviderHook(models.Model):
    """The shared secret of a native provider webhook (GitHub, GitLab, MLflow) for one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="provider_hooks")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "provider"], name="provider_hook_unique")]

    def __str__(self) -> str:
        return f"{self.provider} hook of {self.project}"


class EventCount(models.Model):
    """A Prometheus counter's value for one label set, shared by every process (tracker.counters)."""

    name = models.CharField(max_length=100)
    # The label set as sorted, compact JSON: one row per series.
    labels = models.CharField(max_length=500)
    count = models.FloatField(default=0)
    # The sum of the observed values, for a histogram's bucket rows (0 for plain counters).
    total = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="eventcount_unique_series")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} {self.count}"
