"""Verdicts written back as GitHub / GitLab statuses, and production deploys as PagerDuty change events.

Both go through the alerts outbox (a Delivery row, sent after commit by `delivery_send`, retried with
backoff, every attempt logged, the SSRF guard on every send), so a receiver that is down gets them later.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from alerts import payloads, statuses
from alerts.models import Channel, ChannelKind, Delivery, StatusProvider, StatusWriteback
from alerts.services.channels import outbound_policy
from deployments.models import Deploy
from metrics.impact.selectors import deploy_verdict
from tracker import crypto, outbound
from tracker.errors import FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record

DEFAULT_API_URLS = {StatusProvider.GITHUB: "https://api.github.com", StatusProvider.GITLAB: "https://gitlab.com/api/v4"}
MAX_REPOSITORIES = 200


class WritebackError(FieldsInvalid):
    summary = "the status write-back settings are not valid"


def _check(provider: str, api_url: str, repositories: dict[str, str]) -> None:
    if len(repositories) > MAX_REPOSITORIES:
        raise WritebackError({"repositories": [f"at most {MAX_REPOSITORIES} services"]})
    shape = "owner/repo" if provider == StatusProvider.GITHUB else "group/project or a numeric project ID"
    bad = [
        f"{service}: {repo!r} is not {shape}"
        for service, repo in repositories.items()
        if not statuses.repository_valid(provider, repo)
    ]
    if bad:
        raise WritebackError({"repositories": bad})
    try:
        outbound.check_url(api_url, policy=outbound_policy())
    except outbound.TransportError as exc:
        raise WritebackError({"api_url": [exc.message]}) from None


@transaction.atomic
def status_writeback_set(
    *,
    project: Project,
    provider: str,
    repositories: dict[str, str],
    enabled: bool = True,
    token: str | None = None,
    api_url: str | None = None,
    context: str = "deploy-tracker",
    user: AbstractBaseUser | None = None,
    api_token: ApiToken | None = None,
) -> StatusWriteback:
    """Create or replace a provider's write-back; a token left out keeps the stored one (write-only)."""
    writeback = StatusWriteback.objects.select_for_update().filter(project=project, provider=provider).first()
    writeback = writeback or StatusWriteback(project=project, provider=provider)
    api_url = (api_url or writeback.api_url or DEFAULT_API_URLS[provider]).rstrip("/")
    _check(provider, api_url, repositories)
    if token is None and writeback.pk is not None and not outbound.same_origin(writeback.api_url, api_url):
        raise WritebackError({"token": ["give the token again: the stored one belongs to another API URL"]})
    if token:
        writeback.token_encrypted = crypto.encrypt(token)
    elif not writeback.token_encrypted:
        raise WritebackError({"token": ["a token is required"]})
    writeback.api_url, writeback.repositories, writeback.enabled = api_url, repositories, enabled
    writeback.context = context
    writeback.save()
    audit_record(
        project=project,
        action="status_writeback.updated",
        user=user,
        token=api_token,
        target=writeback,
        details={"provider": provider, "enabled": enabled, "token_changed": bool(token), "services": len(repositories)},
    )
    return writeback


def _deploy_ref(deploy: Deploy) -> statuses.DeployRef:
    return statuses.DeployRef(
        id=deploy.pk,
        service=deploy.service.name,
        environment=deploy.environment.name,
        version=deploy.version,
        commit_sha=deploy.commit_sha,
        ref=deploy.ref,
        external_id=deploy.external_id or "",
        url=settings.SITE_URL + deploy.get_absolute_url(),
    )


def _request_for(
    writeback: StatusWriteback, ref: statuses.DeployRef, verdict: statuses.Verdict
) -> statuses.StatusRequest | None:
    repository = writeback.repositories.get(ref.service)
    if not repository:
        return None
    if writeback.provider == StatusProvider.GITHUB:
        return statuses.github_request(ref, verdict, repository=repository, context=writeback.context)
    return statuses.gitlab_request(ref, verdict, project=repository, context=writeback.context)


def _unchanged(writeback: StatusWriteback, deploy: Deploy, request: statuses.StatusRequest) -> bool:
    """GitLab refuses a status that repeats its state (pending → pending), so there the state alone counts."""
    last = Delivery.objects.filter(writeback=writeback, deploy=deploy).order_by("-id").first()
    if last is None or last.request_path != request.path:
        return False
    if writeback.provider == StatusProvider.GITLAB:
        return last.payload.get("state") == request.body["state"]
    return last.payload == request.body


def statuses_write(*, deploy_id: int, now: datetime | None = None) -> list[Delivery]:
    """Queue a status for each enabled write-back whose status of this deploy would change."""
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    now = now or timezone.now()
    deploy = Deploy.objects.select_related("service", "environment", "project").filter(pk=deploy_id).first()
    if deploy is None or not StatusWriteback.objects.filter(project_id=deploy.project_id, enabled=True).exists():
        return []
    answer = deploy_verdict(deploy=deploy)
    verdict = statuses.Verdict(answer["verdict"], answer["score"], answer["final"])
    ref = _deploy_ref(deploy)
    created = []
    with transaction.atomic():
        # Locked: two workers judging the same deploy at once queue one status, not two.
        for writeback in StatusWriteback.objects.select_for_update().filter(project_id=deploy.project_id, enabled=True):
            request = _request_for(writeback, ref, verdict)
            if request is None or _unchanged(writeback, deploy, request):
                continue
            delivery = Delivery.objects.create(
                project_id=deploy.project_id,
                writeback=writeback,
                deploy=deploy,
                reason="status",
                event_action=request.body["state"],
                payload=request.body,
                request_path=request.path,
                next_attempt_at=now,
            )
            enqueue_at(delivery_send, delivery.pk, eta=None)
            created.append(delivery)
    return created


def status_headers(writeback: StatusWriteback) -> dict[str, str]:
    token = crypto.decrypt(writeback.token_encrypted)
    if writeback.provider == StatusProvider.GITHUB:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    return {"PRIVATE-TOKEN": token}


def change_events_send(*, deploy_id: int, now: datetime | None = None) -> list[Delivery]:
    """A production deploy as a PagerDuty change event, once per opted-in channel."""
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    now = now or timezone.now()
    deploy = Deploy.objects.select_related("service", "environment", "project").filter(pk=deploy_id).first()
    if deploy is None or not deploy.environment.is_production:
        return []
    channels = Channel.objects.filter(
        project_id=deploy.project_id, kind=ChannelKind.PAGERDUTY, change_events=True, enabled=True
    )
    created = []
    with transaction.atomic():
        for channel in channels.select_for_update():
            if Delivery.objects.filter(channel=channel, deploy=deploy, reason="change").exists():
                continue
            delivery = Delivery.objects.create(
                project_id=deploy.project_id,
                channel=channel,
                deploy=deploy,
                reason="change",
                event_action="change",
                # The routing key is added at send time, never stored.
                payload=payloads.pagerduty_change_body(_change(deploy)),
                next_attempt_at=now,
            )
            enqueue_at(delivery_send, delivery.pk, eta=None)
            created.append(delivery)
    return created


def _change(deploy: Deploy) -> payloads.DeployChange:
    return payloads.DeployChange(
        service=deploy.service.name,
        environment=deploy.environment.name,
        version=deploy.version,
        url=settings.SITE_URL + deploy.get_absolute_url(),
        deployed_at=deploy.deployed_at,
        commit_sha=deploy.commit_sha,
        author=deploy.author,
        model=deploy.model_label,
        ci_url=deploy.ci_url,
    )
