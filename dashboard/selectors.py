"""Reads that join several apps' data: the timeline's rows with each app's badges, the DORA figures."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Min
from django.utils import timezone

from alerts.selectors import open_alert_counts
from dashboard.dora import BANDS, BANDS_SOURCE, DeployFact, band, dora_figures, is_model_only, weekly_trend
from deployments.models import Deploy, DeployQuerySet, Status
from deployments.selectors import deploy_list
from metrics.drift.selectors import DriftBadge, drift_badge_columns, drift_badge_of
from metrics.impact.selectors import ImpactBadge, impact_badge_columns, impact_badge_of
from rollbacks.selectors import RollbackBadges, rollback_badges
from tracker.models import Project

# The combined verdict's keys, best to worst among the judged ones; the others are grey (not judged).
JUDGED = ("improved", "healthy", "marginal", "degraded")
VERDICT_LABELS = {
    "improved": "Improved",
    "healthy": "Healthy",
    "marginal": "Marginal",
    "degraded": "Degraded",
    "rolled_back": "Rolled back",
    "failed": "Failed",
    "pending": "Pending",
    "no_metrics": "No metrics",
    "insufficient_data": "Too few samples",
}


@dataclass(frozen=True)
class Verdict:
    """One deploy's combined verdict: the worse of impact and drift (what each said kept for the hover)."""

    key: str
    impact: str
    drift: str

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self.key]


def combined_verdict(status: str, impact: ImpactBadge | None, drift: DriftBadge | None) -> Verdict:
    """Failed and rolled-back deploys say so; else the worse of impact and drift; grey when neither judged."""
    impact_key = _impact_key(impact)
    drift_key = _drift_key(drift)
    if status in (Status.FAILED, Status.ROLLED_BACK):
        key = status
    elif status in (Status.PENDING, Status.IN_PROGRESS):
        key = "pending"
    elif impact_key in JUDGED or drift_key in JUDGED:
        # Clean drift does not turn an improvement into "healthy": drift only ever makes a verdict worse.
        judged = [impact_key] if impact_key in JUDGED else []
        judged += [drift_key] if drift_key in ("marginal", "degraded") else []
        key = max(judged, key=JUDGED.index) if judged else "healthy"
    else:
        key = impact_key or "no_metrics"
    return Verdict(key, _impact_text(impact, impact_key), _drift_text(drift))


def _impact_key(impact: ImpactBadge | None) -> str | None:
    if impact is None:
        return None
    if impact.verdict == "insufficient_data" and not impact.has_metrics:
        return "no_metrics"
    return impact.verdict


def _drift_key(drift: DriftBadge | None) -> str | None:
    if drift is None or drift.status != "ok" or not drift.n_columns:
        return None
    unexpected = drift.n_drifted - drift.n_expected
    return "degraded" if drift.dataset_drift else "marginal" if unexpected > 0 else "healthy"


def _impact_text(impact: ImpactBadge | None, key: str | None) -> str:
    if impact is None or key is None:
        return "impact: no report"
    live = "" if impact.final else " (live)"
    return f"impact: {VERDICT_LABELS.get(key, key).lower()}{live}"


def _drift_text(drift: DriftBadge | None) -> str:
    if drift is None:
        return "drift: no report"
    if drift.status != "ok":
        return "drift: no baseline" if drift.status == "no_baseline" else "drift: pending"
    if not drift.n_columns:
        return "drift: too few samples"
    return f"drift: {drift.n_drifted} of {drift.n_columns} columns drifted"


@dataclass(frozen=True)
class TimelineRow:
    """One deploy on the timeline with each app's badge for it."""

    deploy: Deploy
    impact: ImpactBadge | None
    drift: DriftBadge | None
    open_alerts: int
    rollback: RollbackBadges | None

    @property
    def verdict(self) -> Verdict:
        return combined_verdict(self.deploy.status, self.impact, self.drift)

    @property
    def fingerprint(self) -> str:
        """Everything the row is drawn from: the deploy's fields a row shows (ROW_FIELDS, all that `timeline_page`
        loads), the names joined to it, its CI check counts and each app's badge. The page caches a row's HTML
        under it (with the deploy's relative time), so a changed row is drawn again and an unchanged one costs a
        cache read."""
        deploy = self.deploy
        fields = tuple(getattr(deploy, field) for field in ROW_FIELDS)
        joined = (deploy.service.name, deploy.environment.name, deploy.baseline and deploy.baseline.version,
                  getattr(deploy, "checks_total", None), getattr(deploy, "checks_failed", None))  # fmt: skip
        return repr((fields, joined, self.impact, self.drift, self.open_alerts, self.rollback))


# The deploy's own fields a timeline row shows or needs (its link, its stream's observation window for the live
# refresh). A row's template that read any other field would cost a query per row: the query count test sees it.
ROW_FIELDS = ("id", "project_id", "service_id", "environment_id", "baseline_id", "version", "status",
              "commit_sha", "author", "deployed_at", "model_name", "model_version", "strategy", "traffic_percent",
              "is_rollback")  # fmt: skip


def timeline_page(deploys: DeployQuerySet, start: int, size: int) -> list[Deploy]:
    """One page of the filtered deploys with what their rows show, in one query: the page's ids are chosen on the
    deploys alone (the database skips `start` rows by the (deployed_at, id) order without joining them), then
    only those deploys are loaded with their names, baseline version, CI check counts and badges."""
    ids = deploys.select_related(None).values("pk")[start : start + size]
    page = (
        Deploy.objects.filter(pk__in=ids)
        .select_related("service", "environment", "baseline")
        .only(*ROW_FIELDS, "service__name", "environment__name", "baseline__version")
        .order_by("-deployed_at", "-id")
        .with_check_counts()
    )
    return list(with_badges(page))


def with_badges(deploys: DeployQuerySet) -> DeployQuerySet:
    """The deploys with their impact and drift badges joined in (`timeline_rows` reads them)."""
    return deploys.annotate(**impact_badge_columns(), **drift_badge_columns())


def timeline_rows(deploys: list[Deploy]) -> list[TimelineRow]:
    """Each app's badges for a page of deploys loaded `with_badges`: one query for the alerts and one for the
    rollbacks, whatever the number of rows."""
    ids = [d.pk for d in deploys]
    alerts, rollbacks = open_alert_counts(deploy_ids=ids), rollback_badges(deploy_ids=ids)
    return [
        TimelineRow(
            deploy=d,
            impact=impact_badge_of(vars(d)),
            drift=drift_badge_of(vars(d)),
            open_alerts=alerts.get(d.pk, 0),
            rollback=rollbacks.get(d.pk),
        )
        for d in deploys
    ]


class TimelinePoint(NamedTuple):
    """A deploy as the visual timeline draws it (a named tuple: the timeline builds up to 2,000 of them)."""

    id: int
    stream: str  # "service · environment": the chart's row
    deployed_at: datetime
    version: str
    commit_sha: str
    author: str
    model: str
    verdict: Verdict


# The visual timeline draws at most this many deploys (the newest); the table pages through all of them.
CHART_LIMIT = 2000
_POINT_FIELDS = ("id", "service__name", "environment__name", "deployed_at", "version", "commit_sha", "author",
                 "model_name", "model_version", "status")  # fmt: skip


class TimelinePoints:
    """The deploys a visual timeline draws, newest first, under the stamp they were read at (DeployQuerySet.stamp):
    equal (and hashed) by the stamp alone, so the chart's markers are kept per stamp too."""

    __slots__ = ("points", "stamp")

    def __init__(self, stamp: tuple, points: tuple[TimelinePoint, ...]) -> None:
        self.stamp, self.points = stamp, points

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimelinePoints) and other.stamp == self.stamp

    def __hash__(self) -> int:
        return hash(self.stamp)


# The last few sets of chart points each process read, by stamp: a view drawn again with nothing changed among its
# deploys (none added, removed or written to, no report of theirs changed) costs one small query. Never changed
# once stored; a lock keeps threaded servers safe.
_KEPT: OrderedDict[tuple, TimelinePoints] = OrderedDict()
_KEPT_SIZE = 16
_KEPT_LOCK = threading.Lock()


def timeline_points(deploys: DeployQuerySet, limit: int = CHART_LIMIT) -> TimelinePoints:
    """The filtered deploys for the visual timeline, newest first, with their verdicts. The stamp of the newest
    `limit` (one query on the deploys alone) says whether this process has them already; if not, one query
    whatever their number (the reports joined in, not asked for by a list of 2,000 ids)."""
    stamp = deploys.select_related(None)[:limit].stamp()
    with _KEPT_LOCK:
        kept = _KEPT.get(stamp)
        if kept is not None:
            _KEPT.move_to_end(stamp)
            return kept
    kept = TimelinePoints(stamp, tuple(_points(deploys, limit)))
    with _KEPT_LOCK:
        _KEPT[stamp] = kept
        while len(_KEPT) > _KEPT_SIZE:
            _KEPT.popitem(last=False)
    return kept


def _points(deploys: DeployQuerySet, limit: int) -> list[TimelinePoint]:
    badges = [*impact_badge_columns(), *drift_badge_columns()]
    rows = with_badges(deploys).values_list(*_POINT_FIELDS, *badges)[:limit]
    # Thousands of deploys share a few dozen verdicts: each distinct one is worked out once (the impact score,
    # unique to a deploy, says nothing in a verdict).
    verdicts: dict[tuple, Verdict] = {}
    score = badges.index("impact_score")
    points = []
    for pk, service, environment, at, version, sha, author, model_name, model_version, status, *judged in rows:
        key = (status, *judged[:score], *judged[score + 1 :])
        if (verdict := verdicts.get(key)) is None:
            columns = dict(zip(badges, judged, strict=True))
            verdict = verdicts[key] = combined_verdict(status, impact_badge_of(columns), drift_badge_of(columns))
        model = f"{model_name}:{model_version}" if model_name and model_version else model_name or model_version
        points.append(TimelinePoint(pk, f"{service} · {environment}", at, version, sha, author, model, verdict))
    return points


def dora_facts(
    *,
    project: Project,
    since: datetime,
    until: datetime,
    production_only: bool = True,
    service: str | None = None,
    environment: str | None = None,
) -> list[DeployFact]:
    """Deploy facts for the DORA figures, in one query (verdict and first alert joined in)."""
    deploys = deploy_list(project=project, service=service, environment=environment, since=since, until=until)
    if production_only and not environment:
        deploys = deploys.filter(environment__is_production=True)
    rows = deploys.annotate(first_alert_at=Min("alerts__started_at")).values(
        "service__name",
        "environment__name",
        "deployed_at",
        "status",
        "commit_timestamp",
        "finished_at",
        "impact_report__verdict",
        "impact_report__computed_at",
        "first_alert_at",
        "commit_sha",
        "model_version",
        "baseline__commit_sha",
        "baseline__model_version",
    )
    return [_fact(row) for row in rows]


def _fact(row: dict) -> DeployFact:
    verdict = row["impact_report__verdict"]
    degraded_at = row["impact_report__computed_at"] if verdict == "degraded" else None
    return DeployFact(
        service=row["service__name"],
        environment=row["environment__name"],
        deployed_at=row["deployed_at"],
        went_out=row["status"] in (Status.SUCCEEDED, Status.ROLLED_BACK),
        rolled_back=row["status"] == Status.ROLLED_BACK,
        verdict=verdict,
        commit_at=row["commit_timestamp"],
        finished_at=row["finished_at"],
        first_signal_at=row["first_alert_at"] or degraded_at,
        model_only=is_model_only(
            row["commit_sha"], row["model_version"], row["baseline__commit_sha"], row["baseline__model_version"]
        ),
    )


DORA_DEFINITIONS = {
    "deploys_per_day": "deploys that went out (succeeded, including those later rolled back) per day of the window",
    "lead_time_hours": "median of finished_at − commit_timestamp over deploys that carry both",
    "change_failure_rate": "deploys whose impact verdict was degraded or that were rolled back ÷ deploys that went out",
    "time_to_restore_hours": "median from a failed change's first alert (else its degraded verdict, else the deploy) "
    "to the next deploy of the same service and environment that went out and is not itself a failed change",
    "model_only": "a deploy on the same commit as its baseline with another model version (a retrain); counted "
    "apart from code deploys, with its own frequency and change failure rate",
}


def dora_report(
    *, project, days: int, production_only: bool, service: str | None = None, environment: str | None = None
) -> dict:
    until = timezone.now()
    since = until - timedelta(days=days)
    facts = dora_facts(
        project=project,
        since=since,
        until=until,
        production_only=production_only,
        service=service,
        environment=environment,
    )
    rows = dora_figures(facts, days)
    return {
        "since": since,
        "until": until,
        "days": days,
        "production_only": production_only,
        "rows": rows,
        "definitions": DORA_DEFINITIONS,
        "trend": weekly_trend(facts, since, until),
        "bands": _bands(rows[-1] if rows else {}),
    }


def _bands(total: dict) -> list[dict]:
    """Each figure of the total row with its band and every band's stated limits."""
    return [
        {
            "figure": figure,
            "value": total.get(figure),
            "band": asdict(found) if (found := band(figure, total.get(figure))) else None,
            "limits": [(name, limit) for name, limit, _ in BANDS[figure]],
            "source": BANDS_SOURCE,
        }
        for figure in BANDS
    ]
