"""The requests a deploy keeps for pairing with its champion or its challengers (metrics.stats.shadow)."""

from __future__ import annotations

from django.db import models


class ShadowSampler(models.Model):
    """A deploy's bottom-k sample state: its cut (the largest hash it still keeps) and what it has seen.

    The row is also the lock: batches for the same deploy take it in deploy order and queue behind each other.
    """

    deploy = models.OneToOneField("deployments.Deploy", on_delete=models.CASCADE, related_name="shadow_sampler")
    cut = models.BigIntegerField()  # metrics.stats.shadow.NO_CUT while every request seen is kept
    kept = models.PositiveIntegerField(default=0)  # rows in ShadowSample; never above SAMPLE_SIZE
    seen = models.BigIntegerField(default=0)  # rows with a request id and a prediction posted for this deploy
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"shadow sample of deploy {self.deploy_id}: {self.kept} of {self.seen}"


class ShadowSample(models.Model):
    """One kept request of a deploy: its hash, the deploy's prediction and, once known, the label."""

    deploy = models.ForeignKey("deployments.Deploy", on_delete=models.CASCADE, related_name="+")
    request_hash = models.BigIntegerField()  # metrics.stats.shadow.request_hash: 63 bits, never negative
    prediction = models.FloatField()
    label = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the index that reads a deploy's sample in hash order (its cut, the pairs below a cut).
            models.UniqueConstraint(fields=["deploy", "request_hash"], name="shadow_sample_unique_request"),
            models.CheckConstraint(condition=models.Q(request_hash__gte=0), name="shadow_sample_hash_positive"),
        ]

    def __str__(self) -> str:
        return f"request {self.request_hash:x} of deploy {self.deploy_id}"
