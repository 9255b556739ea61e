"""Reads of the core for its pages: the project settings page and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

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


def audit_entries(
    *,
    project: Project,
    actor: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditLog]:
    """The project's entries, newest first, with who did them (one query per page): narrowed to an actor (a user's
    name or a token's, as the page writes it), an action, and days from `since` to `until` (both included)."""
    entries = AuditLog.objects.filter(project=project).select_related("actor_user", "actor_token").order_by("-at")
    if actor:
        name = actor.removeprefix("token ").strip()
        entries = entries.filter(Q(actor_user__username=actor) | Q(actor_token__name=name))
    if action:
        entries = entries.filter(action=action)
    if since:
        entries = entries.filter(at__date__gte=since)
    if until:
        entries = entries.filter(at__date__lte=until)
    return entries


def audit_actions(*, project: Project) -> list[str]:
    """Every action the project's log holds, for the filter."""
    return list(AuditLog.objects.filter(project=project).order_by("action").values_list("action", flat=True).distinct())
