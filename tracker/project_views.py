"""Project settings pages: members, API tokens, inbound signing secrets, the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tracker import selectors
from tracker.decorators import project_member
from tracker.forms import AuditFilterForm, SigningRequiredForm, SigningSecretCreateForm, TokenCreateForm, errors_text
from tracker.labels import human_label
from tracker.models import ApiToken, Provider, Role, SigningSecret
from tracker.services import (
    provider_secret_issue,
    signing_required_set,
    signing_secret_issue,
    signing_secret_revoke,
    token_issue,
    token_revoke,
)

AUDIT_PAGE_SIZE = 50


def _settings_page(request: HttpRequest, **extra) -> HttpResponse:
    page = selectors.settings_page(project=request.project)
    context = {
        "project": request.project,
        "nav": "settings",
        "members": page.members,
        "tokens": page.tokens,
        "signing_secrets": page.signing_secrets,
        "providers": page.providers,
        "sections": page.sections,
        "token_form": TokenCreateForm(),
        "secret_form": SigningSecretCreateForm(),
        "is_admin": request.membership.is_admin,
        **extra,
    }
    return render(request, "tracker/settings.html", context)


@project_member()
def project_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@project_member(Role.ADMIN)
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, token_form=form)
    token, raw = token_issue(
        project=request.project,
        name=form.cleaned_data["name"],
        scopes=form.cleaned_data["scopes"],
        created_by=request.user,
    )
    # Rendered, not redirected: the raw token must not travel through the session or a URL.
    return _settings_page(request, new_token=raw, new_token_name=token.name)


@project_member(Role.ADMIN)
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, project=request.project, pk=token_id)
    token_revoke(token=token, user=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("project_settings", request.project.slug)


@project_member(Role.ADMIN)
@require_POST
def signing_secret_create(request: HttpRequest) -> HttpResponse:
    form = SigningSecretCreateForm(request.POST)
    form.is_valid()
    secret = signing_secret_issue(
        project=request.project, require=form.cleaned_data.get("require", False), user=request.user
    )
    return _settings_page(request, new_secret=secret)


@project_member(Role.ADMIN)
@require_POST
def signing_secret_revoke_view(request: HttpRequest, secret_id: int) -> HttpResponse:
    secret = get_object_or_404(SigningSecret, project=request.project, pk=secret_id)
    signing_secret_revoke(secret=secret, user=request.user)
    messages.success(request, "Signing secret revoked.")
    return redirect("project_settings", request.project.slug)


@project_member(Role.ADMIN)
@require_POST
def signing_required(request: HttpRequest) -> HttpResponse:
    form = SigningRequiredForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not changed: " + errors_text(form))
        return redirect("project_settings", request.project.slug)
    required = form.cleaned_data["required"]
    signing_required_set(project=request.project, required=required, user=request.user)
    messages.success(request, "Signed deploy events are now " + ("required." if required else "optional."))
    return redirect("project_settings", request.project.slug)


@project_member()
def audit_log(request: HttpRequest) -> HttpResponse:
    """Newest first, a page at a time, filtered by actor, action and days."""
    filters = AuditFilterForm(request.GET).filters()
    entries = selectors.audit_entries(project=request.project, **{k: v for k, v in filters.items() if v})
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {
        "project": request.project,
        "nav": "audit",
        "page": page,
        "entries": [(entry, audit_details(entry.details)) for entry in page.object_list],
        "filters": filters,
        "filtered": any(filters.values()),
        "query": query,
        "actions": selectors.audit_actions(project=request.project),
    }
    return render(request, "tracker/audit.html", context)


def audit_details(details: object) -> list[tuple[str, str]]:
    """An entry's details as (label, text) pairs a person reads: "Service: fraud-scorer", "Critical: yes"."""
    if not isinstance(details, dict):
        return [("", str(details))] if details else []
    return [(human_label(key), _detail_text(value)) for key, value in details.items()]


def _detail_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(_detail_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{human_label(k).lower()} {_detail_text(v)}" for k, v in value.items()) or "—"
    return str(value)


@project_member(Role.ADMIN)
@require_POST
def provider_secret_create(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in Provider.values:
        raise Http404("No such provider")
    secret = provider_secret_issue(project=request.project, provider=provider, user=request.user)
    return _settings_page(request, new_provider_secret=secret, new_provider=provider)
