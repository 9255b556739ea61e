"""Writes of the alerts app, split by subject; import from here."""

from alerts.services.channels import (
    ChannelDisabled,
    ChannelError,
    channel_create,
    channel_delete,
    channel_test,
    channel_update,
)
from alerts.services.delivery import deliveries_due, delivery_attempt, delivery_claim
from alerts.services.grouping import alert_group_claim, alert_group_flush, alert_group_touch
from alerts.services.lifecycle import (
    AlertStateError,
    alert_acknowledge,
    alert_group_for,
    alert_resolve,
    alert_rules_create_defaults,
    alerts_evaluate_deploy,
    alerts_resolve_for_deploys,
    alerts_resolve_missed,
    alerts_resolve_superseded,
)
from alerts.services.rule_settings import RuleError, alert_rule_delete, alert_rule_save
from alerts.services.silences import SilenceError, silence_create, silence_expire
from alerts.services.writeback import WritebackError, change_events_send, status_writeback_set, statuses_write

__all__ = [
    "AlertStateError",
    "ChannelDisabled",
    "ChannelError",
    "RuleError",
    "SilenceError",
    "WritebackError",
    "alert_acknowledge",
    "alert_group_claim",
    "alert_group_flush",
    "alert_group_for",
    "alert_group_touch",
    "alert_resolve",
    "alert_rule_delete",
    "alert_rule_save",
    "alert_rules_create_defaults",
    "alerts_evaluate_deploy",
    "alerts_resolve_for_deploys",
    "alerts_resolve_missed",
    "alerts_resolve_superseded",
    "change_events_send",
    "channel_create",
    "channel_delete",
    "channel_test",
    "channel_update",
    "deliveries_due",
    "delivery_attempt",
    "delivery_claim",
    "silence_create",
    "silence_expire",
    "status_writeback_set",
    "statuses_write",
]
