"""Rollback requests, the project's rollback endpoint, and the logs of attempts and callbacks."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from rollbacks.payloads import EVENT_TYPE, EndpointFormat
from rollbacks.states import OPEN_STATE_NAMES, OPEN_STATES, RequestKind, RollbackState
from tracker.outbound import url_hint


class RollbackEndpoint(models.Model):
    """Where a project's rollback requests go; secrets are encrypted and never shown again."""

    project = models.OneToOneField("tracker.Project", on_delete=models.CASCADE, related_name="rollback_endpoint")
    url = models.URLField(max_length=2048)
    format = models.CharField(max_length=10, choices=[(f.value, f.value) for f in EndpointFormat])
    # The Standard Webhooks secret (whsec_…) every request is signed with.
    secret_encrypted = models.TextField()
    # GitHub: bearer token for the Authorization header; GitLab: the pipeline trigger token.
    token_encrypted = models.TextField(blank=True)
    ref = models.CharField(max_length=255, default="main")
    event_type = models.CharField(max_length=100, default=EVENT_TYPE)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(format__in=[f.value for f in EndpointFormat]), name="rollback_endpoint_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"rollback endpoint of {self.project_id} ({self.format})"

    @property
    def url_hint(self) -> str:
        """What non-admins see: the receiver's host, never a path or query that may carry a credential."""
        return url_hint(self.url)


class RollbackRequest(models.Model):
    """A release request to the project's rollback endpoint: a rollback, or a promotion (`kind`).

    A rollback goes from `deploy` back to `target`; a promotion gives `deploy` (a canary, A/B or shadow
    deploy) the traffic of `target` (its baseline). Both kinds share the outbox, the state machine and
    the callback; each kind allows one open request per service and environment.
    """

    # A UUID, because it is also the outbound `webhook-id` CI dedupes on.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("tracker.Project", on_delete=models.CASCADE, related_name="rollback_requests")
    kind = models.CharField(
        max_length=10, choices=[(k.value, k.value) for k in RequestKind], default=RequestKind.ROLLBACK.value
    )
    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey("deployments.Environment", on_delete=models.CASCADE, related_name="+")
    deploy = models.ForeignKey("deployments.Deploy", on_delete=models.CASCADE, related_name="rollback_requests")
    target = models.ForeignKey("deployments.Deploy", on_delete=models.CASCADE, related_name="rollback_targets")
    state = models.CharField(max_length=20, choices=[(s.value, s.value) for s in RollbackState])
    reason = models.TextField(blank=True)
    requested_by = models.CharField(max_length=200)
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_token = models.ForeignKey("tracker.ApiToken", null=True, blank=True, on_delete=models.SET_NULL)
    # SHA-256 of the one-time callback token; the token itself only travels in the request body.
    callback_token_hash = models.CharField(max_length=64, unique=True)
    # Encrypted, because every retry rebuilds the body that carries the token.
    callback_token_encrypted = models.TextField()
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    ci_url = models.URLField(max_length=2000, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    completed_by = models.ForeignKey(
        "deployments.Deploy", null=True, blank=True, on_delete=models.SET_NULL, related_name="completed_rollbacks"
    )
    # Outbox: the next send is due at `dispatch_due_at` (None: nothing to send); a worker
    # claims it by setting `dispatch_claimed_at` with a conditional UPDATE.
    dispatch_due_at = models.DateTimeField(null=True, blank=True)
    dispatch_claimed_at = models.DateTimeField(null=True, blank=True)
    dispatch_tries = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # The last line against double clicks and two people at once.
            models.UniqueConstraint(
                fields=["service", "environment", "kind"],
                condition=models.Q(state__in=list(OPEN_STATE_NAMES)),
                name="release_request_one_open_per_stream_and_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in RequestKind]), name="release_request_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in RollbackState]), name="rollback_state_valid"
            ),
            models.CheckConstraint(condition=~models.Q(deploy=models.F("target")), name="rollback_target_not_current"),
        ]
        indexes = [
            models.Index(fields=["dispatch_due_at"], name="rollback_dispatch_due"),
            models.Index(fields=["state", "expires_at"], name="rollback_state_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return RollbackState(self.state) in OPEN_STATES


class RollbackAttempt(models.Model):
    """One try at delivering the request to the rollback endpoint."""

    request = models.ForeignKey(RollbackRequest, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    url = models.URLField(max_length=2048)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["request", "number"], name="rollback_attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.request_id}"


class RollbackCallback(models.Model):
    """One status report from CI, kept whether or not it moved the request."""

    request = models.ForeignKey(RollbackRequest, on_delete=models.CASCADE, related_name="callbacks")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20)
    outcome = models.CharField(max_length=20)
    ci_url = models.URLField(max_length=2000, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    via_token = models.ForeignKey("tracker.ApiToken", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status} ({self.outcome}) for {self.request_id}"
