"""Reads for rollback requests: target candidates, the deploy page's section, one request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, prefetch_related_objects
from prometheus_client.core import Metric

from deployments.models import Deploy, Status
from metrics.drift.models import ColumnSketch
from metrics.impact.models import ImpactReport
from metrics.impact.selectors import deploy_verdict
from rollbacks.models import RollbackAttempt, RollbackEndpoint, RollbackRequest
from rollbacks.states import OPEN_STATE_NAMES, RequestKind, RollbackState
from rollbacks.targets import DeployFacts, default_target, promotion_refusal, schema_change, target_refusal
from tracker.outbound import url_hint
from tracker.prometheus import gauge_family

# How many earlier deploys the page offers as targets.
CANDIDATE_LIMIT = 20


def deploy_verdicts(deploy_ids: list[int]) -> dict[int, str]:
    """The impact verdict of each deploy that has a report (one query)."""
    return dict(ImpactReport.objects.filter(deploy_id__in=deploy_ids).values_list("deploy_id", "verdict"))


def deploy_feature_columns(deploy_ids: list[int]) -> dict[int, set[str]]:
    """The input columns each deploy's prediction samples carried (one query)."""
    columns: dict[int, set[str]] = {}
    rows = ColumnSketch.objects.filter(deploy_id__in=deploy_ids, column__role="feature").values_list(
        "deploy_id", "column__name"
    )
    for deploy_id, name in rows:
        columns.setdefault(deploy_id, set()).add(name)
    return columns


def schema_warning(target_columns: set[str] | None, current_columns: set[str] | None) -> str:
    """A warning when the target's inputs differ from what the service receives now ('' if unknown or same)."""
    if not target_columns or not current_columns:
        return ""
    change = schema_change(target_columns, current_columns)
    if not change.differs:
        return ""
    parts = []
    if change.missing:
        parts.append("the target expects inputs no longer sent: " + ", ".join(change.missing))
    if change.added:
        parts.append("inputs sent now that the target never saw: " + ", ".join(change.added))
    return "Input schema differs — " + "; ".join(parts) + "."


def deploy_facts(deploy: Deploy, verdict: str | None = None) -> DeployFacts:
    return DeployFacts(
        id=deploy.pk,
        service_id=deploy.service_id,
        environment_id=deploy.environment_id,
        version=deploy.version,
        commit_sha=deploy.commit_sha,
        status=deploy.status,
        deployed_at=deploy.deployed_at,
        verdict=verdict,
    )


def rollback_candidates(*, deploy: Deploy) -> list[Deploy]:
    """Earlier succeeded deploys of the same service and environment, newest first."""
    return list(Deploy.objects.succeeded_before(deploy)[:CANDIDATE_LIMIT])


def _choose(deploy: Deploy, candidates: list[Deploy], verdicts: dict[int, str]) -> Deploy | None:
    facts = [deploy_facts(c, verdicts.get(c.pk)) for c in candidates]
    chosen = default_target(deploy_facts(deploy), facts, deploy.baseline_id)
    return next((c for c in candidates if chosen is not None and c.pk == chosen.id), None)


def rollback_default_target(*, deploy: Deploy) -> Deploy | None:
    candidates = rollback_candidates(deploy=deploy)
    return _choose(deploy, candidates, deploy_verdicts([c.pk for c in candidates]))


@dataclass
class TargetOption:
    deploy: Deploy
    verdict: str | None
    allowed: bool
    is_default: bool = False
    schema_warning: str = ""


@dataclass
class RollbackSection:
    """Everything the deploy page's rollback card shows."""

    endpoint_configured: bool
    open_request: RollbackRequest | None
    options: list[TargetOption] = field(default_factory=list)
    default: TargetOption | None = None
    history: list[RollbackRequest] = field(default_factory=list)
    refusal: str = ""
    completes: RollbackRequest | None = None


# Deploys that offer no rollback, and why.
REFUSALS = {
    Status.ROLLED_BACK: "This deploy has already been rolled back.",
    Status.FAILED: "This deploy failed: it never went out, so there is nothing to roll back.",
}


@dataclass(frozen=True)
class _StreamRequests:
    """What both cards read, in two queries: the requests either card shows and whether an endpoint is set."""

    requests: list[RollbackRequest]
    endpoint_configured: bool

    def history(self, deploy: Deploy, kind: str) -> list[RollbackRequest]:
        return [r for r in self.requests if r.deploy_id == deploy.pk and r.kind == kind]

    def open(self, deploy: Deploy, kind: str) -> RollbackRequest | None:
        """The stream's open request of this kind (one at most per stream), its attempts in order."""
        found = min(
            (r for r in self.requests if r.kind == kind and r.state in OPEN_STATE_NAMES
             and (r.service_id, r.environment_id) == (deploy.service_id, deploy.environment_id)),
            key=lambda r: r.pk,
            default=None,
        )  # fmt: skip
        if found is not None:
            prefetch_related_objects([found], Prefetch("attempts", queryset=RollbackAttempt.objects.order_by("number")))
        return found


def _stream_requests(deploy: Deploy) -> _StreamRequests:
    """The deploy's own requests (rollbacks and promotions), the ones it completed, and its stream's open ones: one
    query for both cards, newest first."""
    stream = Q(service_id=deploy.service_id, environment_id=deploy.environment_id, state__in=OPEN_STATE_NAMES)
    # The cards show only the version of the deploys a request names: reading their other columns (three joined
    # deploys of ~50 columns each) cost more ORM time than the rest of the card.
    own = [f.name for f in RollbackRequest._meta.concrete_fields]
    requests = list(
        RollbackRequest.objects.filter(Q(deploy=deploy) | Q(completed_by=deploy) | stream)
        .select_related("deploy", "target", "completed_by")
        .only(*own, "deploy__version", "target__version", "completed_by__version")
        .order_by("-requested_at", "-id")
    )
    return _StreamRequests(requests, RollbackEndpoint.objects.filter(project_id=deploy.project_id).exists())


def rollback_section(*, deploy: Deploy, read: _StreamRequests | None = None) -> RollbackSection:
    """The deploy page's rollback card in a fixed number of queries, whatever the history (`read`: the requests
    already read for the promotion card, see release_sections)."""
    read = read or _stream_requests(deploy)
    candidates = rollback_candidates(deploy=deploy)
    verdicts = deploy_verdicts([c.pk for c in candidates])
    columns = deploy_feature_columns([deploy.pk] + [c.pk for c in candidates])
    chosen = _choose(deploy, candidates, verdicts)
    options = [
        TargetOption(
            deploy=c,
            verdict=verdicts.get(c.pk),
            allowed=target_refusal(deploy_facts(deploy), deploy_facts(c)) is None,
            is_default=chosen is not None and c.pk == chosen.pk,
            schema_warning=schema_warning(columns.get(c.pk), columns.get(deploy.pk)),
        )
        for c in candidates
    ]
    completes = min((r for r in read.requests if r.completed_by_id == deploy.pk), key=lambda r: r.pk, default=None)
    return RollbackSection(
        endpoint_configured=read.endpoint_configured,
        open_request=read.open(deploy, RequestKind.ROLLBACK),
        options=options,
        default=next((o for o in options if o.is_default), None),
        history=read.history(deploy, RequestKind.ROLLBACK),
        refusal=REFUSALS.get(deploy.status, ""),
        completes=completes,
    )


@dataclass
class PromotionSection:
    """The deploy page's promotion card: whether this deploy can be promoted, the open request, the history."""

    endpoint_configured: bool
    open_request: RollbackRequest | None
    refusal: str = ""
    history: list[RollbackRequest] = field(default_factory=list)
    gate: dict = field(default_factory=dict)  # the gate's answer (metrics.impact.selectors.deploy_verdict)


def promotion_section(*, deploy: Deploy, read: _StreamRequests | None = None) -> PromotionSection | None:
    """The card for a deploy that runs beside its baseline or was ever promoted (None: no card), in a fixed
    number of queries (`read`: the requests already read for the rollback card, see release_sections)."""
    read = read or _stream_requests(deploy)
    history = read.history(deploy, RequestKind.PROMOTION)
    if not deploy.runs_beside_baseline and not history:
        return None
    refusal = promotion_refusal(
        status=deploy.status,
        runs_beside_baseline=deploy.runs_beside_baseline,
        baseline_id=deploy.baseline_id,
        promoted=any(p.state == RollbackState.SUCCEEDED for p in history),
    )
    return PromotionSection(
        endpoint_configured=read.endpoint_configured,
        open_request=read.open(deploy, RequestKind.PROMOTION),
        refusal=refusal.message if refusal else "",
        history=history,
        gate=deploy_verdict(deploy=deploy),
    )


def release_sections(*, deploy: Deploy) -> tuple[RollbackSection, PromotionSection | None]:
    """Both cards of the deploy page, sharing one read of the requests and of the endpoint."""
    read = _stream_requests(deploy)
    return rollback_section(deploy=deploy, read=read), promotion_section(deploy=deploy, read=read)


def release_request_get(*, project_id: int, request_id: object, kind: str) -> RollbackRequest | None:
    """One request of the project and kind with what its API representation needs, or None."""
    return (
        RollbackRequest.objects.select_related("service", "environment", "deploy", "target", "completed_by")
        .prefetch_related("attempts", "callbacks")
        .filter(project_id=project_id, kind=kind, pk=request_id)
        .first()
    )


def rollback_get(*, project_id: int, rollback_id: object) -> RollbackRequest | None:
    return release_request_get(project_id=project_id, request_id=rollback_id, kind=RequestKind.ROLLBACK)


def promotion_get(*, project_id: int, promotion_id: object) -> RollbackRequest | None:
    return release_request_get(project_id=project_id, request_id=promotion_id, kind=RequestKind.PROMOTION)


@dataclass(frozen=True)
class RollbackMark:
    """A rollback request as a timeline row names it."""

    id: str
    state: str
    deploy_id: int
    requested_by: str


@dataclass(frozen=True)
class RollbackBadges:
    """A timeline row's release marks: the latest rollback request from the deploy, the rollback the deploy
    completed, the latest promotion request of the deploy."""

    request: RollbackMark | None = None
    completes: RollbackMark | None = None
    promotion: RollbackMark | None = None


def rollback_badges(*, deploy_ids: Iterable[int]) -> dict[int, RollbackBadges]:
    """deploy id -> its release marks, for a page of timeline rows (one query)."""
    ids = list(deploy_ids)
    latest: dict[int, RollbackMark] = {}
    completed: dict[int, RollbackMark] = {}
    promoted: dict[int, RollbackMark] = {}
    rows = RollbackRequest.objects.filter(
        Q(deploy_id__in=ids) | Q(completed_by_id__in=ids, kind=RequestKind.ROLLBACK)
    ).order_by("requested_at")
    for pk, kind, state, deploy_id, completed_by_id, requested_by in rows.values_list(
        "id", "kind", "state", "deploy_id", "completed_by_id", "requested_by"
    ):
        mark = RollbackMark(id=str(pk), state=state, deploy_id=deploy_id, requested_by=requested_by)
        if kind == RequestKind.PROMOTION:
            promoted[deploy_id] = mark
            continue
        latest[deploy_id] = mark
        if completed_by_id is not None:
            completed[completed_by_id] = mark
    return {
        pk: RollbackBadges(request=latest.get(pk), completes=completed.get(pk), promotion=promoted.get(pk))
        for pk in ids
        if pk in latest or pk in completed or pk in promoted
    }


@dataclass(frozen=True)
class EndpointSection:
    """The project settings page's rollback part: where requests go, if anywhere."""

    url: str | None
    format: str | None
    url_hint: str | None = None  # what viewers see: credentials in URLs must not leak to them


def endpoint_section(*, project_id: int) -> EndpointSection:
    endpoint = RollbackEndpoint.objects.filter(project_id=project_id).values_list("url", "format").first()
    if endpoint is None:
        return EndpointSection(url=None, format=None)
    url, format_ = endpoint
    return EndpointSection(url=url, format=format_, url_hint=url_hint(url))


def rollback_gauges() -> list[Metric]:
    """Rollback and promotion requests by state (registered in RollbacksConfig.ready)."""
    counts = RollbackRequest.objects.values("kind", "state").annotate(n=Count("pk"))
    states = [state.value for state in RollbackState]
    return [
        gauge_family(
            f"deploy_tracker_{kind}_requests",
            f"{kind.capitalize()} requests by state.",
            {"state": states},
            {(row["state"],): row["n"] for row in counts if row["kind"] == kind},
        )
        for kind in (RequestKind.ROLLBACK, RequestKind.PROMOTION)
    ]
