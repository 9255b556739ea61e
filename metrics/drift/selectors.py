"""Reads for drift: which deploy a sample belongs to, sketches of a deploy, reports for pages."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import BooleanField, ExpressionWrapper, F, Q

from deployments.models import Deploy, Environment, Service, Status, Strategy
from metrics.drift.models import ColumnSketch, DriftReport, DriftSetting, QualitySketch, SampleColumn
from metrics.stats import quality
from metrics.stats import sketch as sk
from metrics.stats.drift import ColumnRule, DriftSettings
from tracker.models import Project

# Deploys that served traffic while they were the newest of their stream.
LIVE_STATUSES = (Status.SUCCEEDED, Status.IN_PROGRESS, Status.ROLLED_BACK)

METHOD_NAMES = {
    "ks": "Kolmogorov-Smirnov p",
    "chisquare": "chi-square p (2 x k)",
    "chisquare_gof": "chi-square p (goodness of fit)",
    "z": "z-test p",
    "wasserstein": "Wasserstein ÷ std",
    "jensenshannon": "Jensen-Shannon",
    "psi": "PSI",
}

QUALITY_FIGURES = [
    ("auc", "ROC AUC"),
    ("brier", "Brier score"),
    ("accuracy", "accuracy at 0.5"),
    ("positive_rate", "positive rate (labels)"),
    ("mean_prediction", "mean prediction"),
    ("calibration_gap", "calibration gap"),
    ("mae", "mean absolute error"),
    ("rmse", "root mean square error"),
    ("bias", "bias (prediction - label)"),
    ("n", "labelled rows"),
]
# Which way each realised-quality figure gets worse ("abs": its distance from 0 grows); the others only describe.
QUALITY_WORSE = {"auc": "down", "accuracy": "down", "brier": "up", "mae": "up", "rmse": "up",
                 "calibration_gap": "abs", "bias": "abs"}  # fmt: skip
# A figure is flagged worse (or better) when it moved that way by at least this share of its baseline value.
QUALITY_TOLERANCE = 0.02


def deploys_live_at(*, service: Service, environment: Environment, timestamps: np.ndarray) -> np.ndarray:
    """Per timestamp (epoch seconds), the id of the deploy live at that time; 0 where none was. A shadow deploy
    serves no traffic: only rows that name it are its own."""
    stream = list(
        Deploy.objects.filter(service=service, environment=environment, status__in=LIVE_STATUSES)
        .exclude(strategy=Strategy.SHADOW)
        .order_by("deployed_at", "id")
        .values_list("id", "deployed_at")
    )
    if not stream:
        return np.zeros(len(timestamps), dtype=np.int64)
    ids = np.array([pk for pk, _ in stream], dtype=np.int64)
    starts = np.array([at.timestamp() for _, at in stream])
    index = np.searchsorted(starts, timestamps, side="right") - 1
    return np.where(index >= 0, ids[np.clip(index, 0, None)], 0)


def deploy_named(*, service: Service, environment: Environment, ref: int | str) -> Deploy | None:
    """A deploy of the stream by id, or the newest one with that version."""
    deploys = Deploy.objects.filter(service=service, environment=environment)
    if isinstance(ref, int):
        return deploys.filter(pk=ref).first()
    return deploys.filter(version=ref).order_by("-deployed_at", "-id").first()


def deploy_named_in(*, project: Project, service: str, environment: str, ref: int | str) -> Deploy | None:
    """deploy_named for a stream given by its names, with its service and environment: one query (None when the
    stream or the deploy does not exist: stream_get and deploy_named then say which)."""
    deploys = Deploy.objects.select_related("service", "environment").filter(
        project=project, service__name=service, environment__name=environment
    )
    if isinstance(ref, int):
        return deploys.filter(pk=ref).first()
    return deploys.filter(version=ref).order_by("-deployed_at", "-id").first()


# Frozen edges never change (metrics.stats.sketch): each process keeps the ones it has read, so an ingest request
# does not read ~17 KB per column again. Keyed by the column's id and first-seen time: SQLite hands out the id of
# a column whose insert was rolled back again, never with the same time. 1,024 columns: ~17 MB at most.
_EDGES_KEPT = 1024
_edges_kept: OrderedDict[tuple[int, datetime], bytes] = OrderedDict()
_edges_lock = threading.Lock()


def columns_of(*, service: Service) -> list[SampleColumn]:
    """The service's sample columns, their frozen edges from this process's copies where it has them: only the
    edges it has not read yet are read (one query; none once every column's are kept)."""
    columns = list(
        SampleColumn.objects.filter(service=service)
        .defer("edges")
        .annotate(frozen=ExpressionWrapper(Q(edges__isnull=False), output_field=BooleanField()))
    )
    edges = {(c.pk, c.first_seen_at): _edges_kept.get((c.pk, c.first_seen_at)) for c in columns if c.frozen}
    missing = [pk for (pk, _), raw in edges.items() if raw is None]
    if missing:
        rows = SampleColumn.objects.filter(pk__in=missing).values_list("pk", "first_seen_at", "edges")
        edges.update(((pk, seen), bytes(raw)) for pk, seen, raw in rows)
    for column in columns:
        # the deferred field, filled without a query (None: not frozen)
        column.edges = edges.get((column.pk, column.first_seen_at))
    with _edges_lock:  # threads of one process (a threaded server, the tests' concurrent batches) share the copies
        for key, raw in edges.items():
            _edges_kept[key] = raw
            _edges_kept.move_to_end(key)
        while len(_edges_kept) > _EDGES_KEPT:
            _edges_kept.popitem(last=False)
    return columns


def stream_get(*, project: Project, service: str, environment: str) -> tuple[Service | None, Environment | None]:
    return (
        Service.objects.filter(project=project, name=service).first(),
        Environment.objects.filter(project=project, name=environment).first(),
    )


def deploy_sketches(*, deploy_ids: Iterable[int]) -> dict[int, dict[int, sk.Sketch]]:
    """deploy id -> column id -> sketch."""
    rows = list(
        ColumnSketch.objects.filter(deploy_id__in=list(deploy_ids)).values_list("deploy_id", "column_id", "data")
    )
    # A binned sketch refers to its column's frozen edges (one array per column, shared by its deploys).
    edges = {
        pk: None if raw is None else np.frombuffer(bytes(raw), dtype="<f8").astype(np.float64)
        for pk, raw in SampleColumn.objects.filter(pk__in={row[1] for row in rows}).values_list("pk", "edges")
    }
    out: dict[int, dict[int, sk.Sketch]] = {}
    for deploy_id, column_id, data in rows:
        out.setdefault(deploy_id, {})[column_id] = sk.from_bytes(bytes(data), edges=edges[column_id])
    return out


def drift_settings_for(*, service: Service, columns: Iterable[SampleColumn]) -> DriftSettings:
    setting = DriftSetting.objects.filter(service=service).first()
    rules = {
        c.name if c.role == "feature" else c.role: ColumnRule(method=c.method or None, threshold=c.threshold)
        for c in columns
        if c.method or c.threshold is not None
    }
    if setting is None:
        return DriftSettings(columns=rules)
    return DriftSettings(drift_share=setting.drift_share, categorical_method=setting.categorical_method, columns=rules)


def drift_report_get(*, deploy: Deploy) -> DriftReport | None:
    return DriftReport.objects.filter(deploy=deploy).first()


def service_columns(*, project: Project, service_name: str | None = None) -> list[SampleColumn]:
    columns = SampleColumn.objects.filter(service__project=project).select_related("service")
    if service_name:
        columns = columns.filter(service__name=service_name)
    return list(columns.order_by("service__name", "role", "name"))


def drift_setting_get(*, service: Service) -> DriftSetting:
    """The service's drift settings, or unsaved defaults."""
    return DriftSetting.objects.filter(service=service).first() or DriftSetting(service=service)


def drift_summary(*, deploy: Deploy) -> dict | None:
    """The drift summary shown with a deploy (GET /api/v1/deploys/{id}); None without samples."""
    report = DriftReport.objects.filter(deploy=deploy).defer("result").first()
    if report is None:
        return None
    return {
        "status": report.status,
        "n_columns": report.n_columns,
        "n_drifted": report.n_drifted,
        "n_expected": report.n_expected,
        "drift_share": report.drift_share,
        "dataset_drift": report.dataset_drift,
        "prediction_drift_cause": report.prediction_drift_cause or None,
        "final": report.final,
        "computed_at": report.computed_at.isoformat() if report.computed_at else None,
    }


def realised_quality(*, deploy_ids: Iterable[int]) -> dict[int, dict | None]:
    """deploy id -> realised quality from its labelled samples (None below 30 labelled rows)."""
    out: dict[int, dict | None] = {}
    rows = QualitySketch.objects.filter(deploy_id__in=list(deploy_ids)).values_list("deploy_id", "data")
    for deploy_id, data in rows:
        pairs = sk.pairs_from_bytes(bytes(data))
        out[deploy_id] = quality.realised_quality(pairs.reservoir, pairs.n)
    return out


@dataclass(frozen=True)
class DriftBadge:
    """A timeline row's drift badge."""

    status: str
    n_columns: int
    n_drifted: int
    n_expected: int
    dataset_drift: bool
    prediction_drift_cause: str


BADGE_FIELDS = ("status", "n_columns", "n_drifted", "n_expected", "dataset_drift", "prediction_drift_cause")


def drift_badges(*, deploy_ids: Iterable[int]) -> dict[int, DriftBadge]:
    """deploy id -> its drift badge, for a page of timeline rows (one query; the report's JSON left out)."""
    rows = DriftReport.objects.filter(deploy_id__in=list(deploy_ids)).values_list("deploy_id", *BADGE_FIELDS)
    return {row[0]: DriftBadge(*row[1:]) for row in rows}


def drift_badge_columns() -> dict[str, F]:
    """A deploy query's annotations for its drift badge, the report joined in (no second query with the deploys'
    ids); `drift_badge_of` reads them back."""
    return {f"drift_{field}": F(f"drift_report__{field}") for field in BADGE_FIELDS}


def drift_badge_of(columns: Mapping[str, Any]) -> DriftBadge | None:
    """The badge from `drift_badge_columns` (a values() row, or a deploy's attributes); None without a report."""
    if columns["drift_status"] is None:
        return None
    return DriftBadge(*(columns[f"drift_{field}"] for field in BADGE_FIELDS))


@dataclass(frozen=True)
class DriftSection:
    """The deploy page's drift part: the stored report, a row per column (worst first) and realised quality."""

    status: str
    baseline_id: int | None
    baseline_version: str
    n_columns: int
    n_drifted: int
    n_expected: int
    drift_share: float
    drift_share_threshold: float | None
    dataset_drift: bool
    prediction_drift_cause: str
    computed_at: datetime | None
    compute_ms: float | None
    final: bool
    # Each column of the report (what the charts draw) with its method's name.
    rows: list[dict[str, Any]]
    # Every realised-quality figure either side has: label, baseline, current, delta, worse, better.
    quality: list[dict[str, Any]]
    # The fairness part of the report, each column's groups paired with the baseline's (worst first).
    fairness: dict[str, Any] | None = None
    quality_tolerance_percent: float = QUALITY_TOLERANCE * 100


def drift_section(*, deploy: Deploy) -> DriftSection | None:
    """One query: the report with its baseline's version; None before the deploy has samples."""
    report = DriftReport.objects.filter(deploy=deploy).select_related("baseline").first()
    if report is None:
        return None
    result = report.result or {}
    return DriftSection(
        status=report.status,
        baseline_id=report.baseline_id,
        baseline_version=report.baseline.version if report.baseline else "",
        n_columns=report.n_columns,
        n_drifted=report.n_drifted,
        n_expected=report.n_expected,
        drift_share=report.drift_share,
        drift_share_threshold=result.get("drift_share_threshold"),
        dataset_drift=report.dataset_drift,
        prediction_drift_cause=report.prediction_drift_cause,
        computed_at=report.computed_at,
        compute_ms=report.compute_ms,
        final=report.final,
        rows=[_column_row(c) for c in result.get("columns", [])],
        quality=_quality_rows(result.get("quality")),
        fairness=_fairness_rows(result.get("fairness")),
    )


# A side or group without figures (no baseline, a group only one side has), for the template to show "—".
_NO_SIDE = {"disparate_impact": None, "equal_opportunity_diff": None, "groups": []}
_NO_GROUP = {"n": None, "positive_rate": None, "tpr": None, "fpr": None, "sufficient": True}


def _fairness_rows(fairness: dict | None) -> dict[str, Any] | None:
    """Each sensitive column with its groups (this deploy's order: lowest positive rate first, insufficient last)
    beside the baseline's figures for the same group."""
    if not fairness:
        return None
    columns = []
    for column in fairness["columns"]:
        baseline = {g["group"]: g for g in (column.get("baseline") or {}).get("groups", [])}
        current = column["current"]["groups"]
        groups = [{"group": g["group"], "current": g, "baseline": baseline.get(g["group"], _NO_GROUP)} for g in current]
        shown = {g["group"] for g in current}
        groups += [{"group": k, "current": _NO_GROUP, "baseline": g} for k, g in baseline.items() if k not in shown]
        columns.append({**column, "baseline": column.get("baseline") or _NO_SIDE, "rows": groups})
    return {**fairness, "columns": columns}


def _column_row(column: dict) -> dict[str, Any]:
    return {
        **column,
        "method_name": METHOD_NAMES.get(column["method"], column["method"] or "—"),
        # Statistics on reservoir samples (sketches stored before bin sums); binned ones carry an error bound.
        "sampled": column["sample_ref"] < column["n_ref"] or column["sample_cur"] < column["n_cur"],
        "error_bound": column.get("error_bound"),
        "why": _why_drifted(column),
    }


def _why_drifted(column: dict) -> list[str]:
    """What made a drifted column drifted: its values moved (score against threshold), its missing share moved,
    or both. A column drifted by missing values alone says so, instead of a score under its threshold."""
    if column.get("verdict") not in ("drifted", "expected"):
        return []
    reasons = []
    if column.get("drifted") and column.get("score") is not None:
        method = METHOD_NAMES.get(column["method"], column["method"])
        sign = "<" if column.get("p_value") is not None else "≥"
        reasons.append(f"values moved: {method} {column['score']:.4g} {sign} {column['threshold']:.4g}")
    if column.get("null_drifted"):
        reasons.append(f"missing {_share(column.get('null_rate_ref'))} → {_share(column.get('null_rate_cur'))}")
    return reasons


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _quality_rows(quality: dict | None) -> list[dict[str, Any]]:
    if not quality or not (quality.get("baseline") or quality.get("current")):
        return []
    ref, cur = quality.get("baseline") or {}, quality.get("current") or {}
    return [_quality_row(key, label, ref.get(key), cur.get(key)) for key, label in QUALITY_FIGURES
            if key in ref or key in cur]  # fmt: skip


def _quality_row(key: str, label: str, ref: float | None, cur: float | None) -> dict[str, Any]:
    """One figure with its change; `worse`/`better` when it moved the figure's bad/good way by the tolerance."""
    row = {"key": key, "label": label, "baseline": ref, "current": cur, "delta": None, "worse": False, "better": False}
    if ref is None or cur is None:
        return row
    row["delta"] = cur - ref
    way = QUALITY_WORSE.get(key)
    if way is None:
        return row
    growth = (abs(cur) - abs(ref)) if way == "abs" else (cur - ref)
    harm = -growth if way == "down" else growth
    scale = max(abs(ref), 1e-12)
    row["worse"] = harm / scale >= QUALITY_TOLERANCE
    row["better"] = -harm / scale >= QUALITY_TOLERANCE
    return row


def drift_shares(*, deploy_ids: Iterable[int]) -> dict[int, float]:
    """deploy id -> the share of its columns that drifted, for deploys with a computed report (one query)."""
    rows = DriftReport.objects.filter(deploy_id__in=list(deploy_ids), status="ok", n_columns__gt=0)
    return dict(rows.values_list("deploy_id", "drift_share"))
