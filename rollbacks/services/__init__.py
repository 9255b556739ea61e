"""Writes for release requests (rollbacks and promotions), split by subject: requests (create, callbacks,
completion, expiry), dispatch (the outbox to the rollback endpoint) and endpoints (its configuration)."""

from rollbacks.services.dispatch import (
    DISPATCH_CLAIM_TIMEOUT,
    DISPATCH_MAX_TRIES,
    endpoint_settings,
    rollback_dispatch_attempt,
    rollback_message,
    rollbacks_due_for_dispatch,
)
from rollbacks.services.endpoints import rollback_endpoint_set
from rollbacks.services.requests import (
    CALLBACK_TOKEN_PREFIX,
    CallbackResult,
    callback_token_hash,
    promotion_request_create,
    rollback_callback_apply,
    rollback_complete_by_deploy,
    rollback_request_create,
    rollbacks_complete_missed,
    rollbacks_expire,
)

__all__ = [
    "CALLBACK_TOKEN_PREFIX",
    "DISPATCH_CLAIM_TIMEOUT",
    "DISPATCH_MAX_TRIES",
    "CallbackResult",
    "callback_token_hash",
    "endpoint_settings",
    "promotion_request_create",
    "rollback_callback_apply",
    "rollback_complete_by_deploy",
    "rollback_dispatch_attempt",
    "rollback_endpoint_set",
    "rollback_message",
    "rollback_request_create",
    "rollbacks_complete_missed",
    "rollbacks_due_for_dispatch",
    "rollbacks_expire",
]
