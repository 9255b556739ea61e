"""Reads of the core for its pages: the project settings page and the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.models import ApiToken, AuditLog, Membership, Project, Provider, SigningSecret
from tracker.sections import SettingsSection, settings_sections


@dataclass(frozen=True)
class SettingsPage:
    """Everything the project settings page shows (a fixed number of queries)."""

    members: list[Membership]
    tokens: list[ApiToken]
    signing_secrets: list[SigningSecret]
    # (provider, label, whether its secret is set) for each native webhook provider.
    providers: list[tuple[str, str, bool]]
    # What the apps above the core add (channels, rollback endpoint).
    sections: list[SettingsSection]


def settings_page(*, project: Project) -> SettingsPage:
    configured = set(project.provider_hooks.values_list("provider", flat=True))
    return SettingsPage(
        members=list(project.memberships.select_related("user").order_by("user__username")),
        tokens=list(project.tokens.order_by("revoked_at", "-created_at")),
        signing_secrets=list(project.signing_secrets.order_by("revoked_at", "-created_at")),
        providers=[(provider, label, provider in configured) for provider, label in Provider.choices],
        sections=settings_sections(project=project),
    )


def audit_entries(*, project: Project, limit: int) -> list[AuditLog]:
    """The newest entries, with who did them (one query)."""
    return list(
        AuditLog.objects.filter(project=project).select_related("actor_user", "actor_token").order_by("-at")[:limit]
    )
