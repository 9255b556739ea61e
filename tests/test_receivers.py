"""Cross-app reactions follow one style (README, Development): a lower layer's signal, an upper app's
`receivers.py` with `@receiver(..., dispatch_uid="<app>.<reaction>")`, imported in its AppConfig.ready().
"""

from __future__ import annotations

import weakref

from django.db.models.signals import post_save

from deployments.signals import deploy_processed, deploys_rolled_back
from metrics.drift.signals import drift_report_computed
from metrics.impact.signals import impact_report_computed
from tracker.models import Project

PRODUCT_SIGNALS = [deploys_rolled_back, deploy_processed, impact_report_computed, drift_report_computed]


def connected(signal, sender=None) -> list[tuple[str, object]]:
    """(dispatch uid, receiver function) of each receiver connected to the signal (for that sender only)."""
    found = []
    for (uid, sender_id), ref, _ in signal.receivers:
        function = ref() if isinstance(ref, weakref.ReferenceType) else ref
        if sender is None or sender_id == id(sender):
            found.append((uid, function))
    return found


def test_every_receiver_of_a_product_signal_lives_in_a_receivers_module_with_a_named_uid() -> None:
    receivers = [pair for signal in PRODUCT_SIGNALS for pair in connected(signal)]
    assert len(receivers) == 10
    for uid, function in receivers:
        app = function.__module__.removesuffix(".receivers").rsplit(".", 1)[-1]
        assert function.__module__.endswith(".receivers"), function
        assert isinstance(uid, str) and uid.startswith(f"{app}."), (uid, function)


def test_a_new_project_gets_its_default_rules_from_the_alerts_receivers() -> None:
    [(uid, function)] = [(u, f) for u, f in connected(post_save, Project) if f.__module__.endswith(".receivers")]
    assert (uid, function.__module__) == ("alerts.project_created", "alerts.receivers")
