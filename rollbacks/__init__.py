"""Rollback requests: from a deploy to an earlier target, dispatched to CI and tracked to completion.

Pure modules (no Django imports): `states` (the forward-only state machine), `payloads` (the
outbound bodies: generic, GitHub repository_dispatch, GitLab pipeline trigger) and `targets`
(choosing and vetting the rollback target).
"""
