"""Hooks other apps listen to (alerts resolve, rollback requests complete) without deployments importing them."""

from django.dispatch import Signal

# Sent inside the recording transaction when a deploy undoes earlier ones.
# Arguments: rollback (the new deploy), restored (the earlier deploy put back), undone_ids.
deploys_rolled_back = Signal()

# Sent after a deploy's task has run (baseline linked, changes stored). Argument: deploy.
deploy_processed = Signal()

# Sent after a service's analysis settings (or one environment's override) changed. Arguments: service,
# environment (None for the service's own settings: every environment may be affected), changed (field names).
service_settings_changed = Signal()
