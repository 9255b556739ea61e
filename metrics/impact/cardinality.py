"""The series caps: how many metric names a service, and how many label sets a metric name, may have.

Without them an ingest token could create unlimited series, and every series is carried by the judge, the
charts and the settings pages. METRIC_MAX_NAMES_PER_SERVICE and METRIC_MAX_LABEL_SETS_PER_METRIC count the
names and label sets posted within the retention of raw points (the retention sweep forgets the ones not
seen for METRIC_RETENTION_DAYS). A batch that would pass a cap is refused whole: nothing of it is stored.

Concurrency: a batch whose series are all known takes no lock (and no query at all when this process
has seen them today). A batch that adds series locks its services'
rows (FOR NO KEY UPDATE, in id order, so no deadlock) and counts only then, so batches adding series to one
service run one after the other and the caps hold exactly on PostgreSQL. SQLite runs one write transaction at
a time (IMMEDIATE), which gives the same.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import date

import msgspec
import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from deployments.models import Service
from metrics.impact.models import MetricLabelSet, MetricName
from metrics.points import PointBatch, PointsInvalid, group_rows
from tracker.errors import Unprocessable
from tracker.models import Project

# Per point, the errors list at most this many offending points.
MAX_REPORTED_POINTS = 20

Series = tuple[int, str, str]  # service id, metric name, label-set key

# Series this process saw registered and marked seen today: a batch of only such series needs no query.
# Only today's entries count, so the retention sweep (which forgets series unseen for days) cannot have
# removed them; entries are added after commit, so a rolled-back registration is never remembered. (A name
# deleted in the admin today is still accepted, unregistered, by the processes that remember it, until
# the day ends.)
_SEEN_TODAY: dict[Series, date] = {}
SEEN_TODAY_MAX = 100_000


class CardinalityExceeded(Unprocessable, PointsInvalid):
    """The batch would pass a series cap; its message names the limit."""

    code = "cardinality_limit"


def label_set_key(labels: dict | None) -> str:
    """A label set's identity whatever the order of its keys; "" for no labels."""
    if not labels:
        return ""
    return hashlib.blake2b(msgspec.json.encode(labels, order="sorted"), digest_size=16).hexdigest()


class _Refused(Exception):
    """A cap would be passed by these series: (service id, name) for names, whole series for label sets."""

    def __init__(self, message: str, field: str, reason: str, series: set[tuple]) -> None:
        super().__init__(message)
        self.message, self.field, self.reason, self.series = message, field, reason, series


def series_admit(*, project: Project, batch: PointBatch, service_ids: np.ndarray) -> None:
    """Register the batch's new series under the caps, or raise CardinalityExceeded."""
    today = timezone.now().date()
    sets, codes = batch.label_sets
    keys = [label_set_key(labels) for labels in sets] + [""]  # code -1 (no labels) is the last
    series = _distinct_series(batch, service_ids, keys)
    if all(_SEEN_TODAY.get(one) == today for one in series):
        return
    known = _known(series)
    missing = series - known.keys()
    if missing:
        try:
            _register(project, missing, today)
        except _Refused as refused:
            point_series = zip(service_ids.tolist(), batch.names, map(keys.__getitem__, codes.tolist()), strict=True)
            raise CardinalityExceeded(refused.message, {"points": _offending(point_series, refused)}) from None
    _touch(known.values(), today)
    transaction.on_commit(lambda: _remember(series, today))


def _distinct_series(batch: PointBatch, service_ids: np.ndarray, keys: list[str]) -> set[Series]:
    """The batch's distinct (service id, name, label-set key), grouped on integers (no tuple per point)."""
    names, name_codes = batch.name_codes
    series, _ = group_rows((service_ids, name_codes, batch.label_sets[1]))
    return {(service, names[name], keys[label]) for service, name, label in series.tolist()}


def _remember(series: set[Series], today: date) -> None:
    if len(_SEEN_TODAY) + len(series) > SEEN_TODAY_MAX:
        _SEEN_TODAY.clear()
    _SEEN_TODAY.update(dict.fromkeys(series, today))


def _known(series: set[Series]) -> dict[Series, tuple[int, date, int, date]]:
    """The registered series among these: (name id, its last_seen, label-set id, its last_seen)."""
    rows = MetricLabelSet.objects.filter(
        metric__service_id__in={s for s, _, _ in series},
        metric__name__in={n for _, n, _ in series},
        key__in={k for _, _, k in series},
    ).values_list("metric__service_id", "metric__name", "key", "metric_id", "metric__last_seen", "id", "last_seen")
    return {row[:3]: row[3:] for row in rows if row[:3] in series}


def _register(project: Project, missing: set[Series], today: date) -> None:
    services = sorted({s for s, _, _ in missing})
    # The lock that makes count-then-insert safe; NO KEY, so rows that reference the service are not blocked.
    locked = Service.objects.select_for_update(no_key=True).filter(pk__in=services).order_by("pk")
    service_names = dict(locked.values_list("pk", "name"))
    names = _names_admit(project, {(s, n) for s, n, _ in missing}, service_names, today)
    # A known name gaining a label set is seen today too (the retention sweep forgets names by last_seen).
    seen = {names[(s, n)] for s, n, _ in missing}
    MetricName.objects.filter(pk__in=seen, last_seen__lt=today).update(last_seen=today)
    _label_sets_admit({(names[(s, n)], k): (s, n, k) for s, n, k in missing}, today)


def _names_admit(
    project: Project, wanted: set[tuple[int, str]], service_names: dict[int, str], today: date
) -> dict[tuple[int, str], int]:
    """Create the new names within METRIC_MAX_NAMES_PER_SERVICE; every name's id by (service id, name)."""
    services = {s for s, _ in wanted}
    rows = MetricName.objects.filter(service_id__in=services).values_list("service_id", "name", "id")
    names = {(s, n): i for s, n, i in rows}
    new = wanted - names.keys()
    limit = settings.METRIC_MAX_NAMES_PER_SERVICE
    have, adding = Counter(s for s, _ in names), Counter(s for s, _ in new)
    for sid in sorted(adding):
        if have[sid] + adding[sid] > limit:
            raise _Refused(
                f"service {service_names[sid]!r} has {have[sid]} metric names: {adding[sid]} new ones would pass "
                f"the limit of {limit} names per service (METRIC_MAX_NAMES_PER_SERVICE)",
                "name",
                f"a new metric name beyond the limit of {limit} per service",
                {(s, n) for s, n in new if s == sid},
            )
    if new:
        MetricName.objects.bulk_create(
            [MetricName(project=project, service_id=s, name=n, last_seen=today) for s, n in sorted(new)],
            ignore_conflicts=True,
        )
        rows = MetricName.objects.filter(service_id__in={s for s, _ in new}, name__in={n for _, n in new})
        names.update(((s, n), i) for s, n, i in rows.values_list("service_id", "name", "id"))
    return names


def _label_sets_admit(wanted: dict[tuple[int, str], Series], today: date) -> None:
    """Create the new label sets (metric id, key) within METRIC_MAX_LABEL_SETS_PER_METRIC."""
    rows = MetricLabelSet.objects.filter(metric_id__in={m for m, _ in wanted}, key__in={k for _, k in wanted})
    new = wanted.keys() - set(rows.values_list("metric_id", "key"))
    counts = dict(
        MetricLabelSet.objects.filter(metric_id__in={m for m, _ in new})
        .values("metric_id")
        .annotate(n=Count("id"))
        .values_list("metric_id", "n")
    )
    adding = Counter(m for m, _ in new)
    limit = settings.METRIC_MAX_LABEL_SETS_PER_METRIC
    for metric_id in sorted(adding):
        have = counts.get(metric_id, 0)
        if have + adding[metric_id] > limit:
            refused = {wanted[(m, k)] for m, k in new if m == metric_id}
            _, name, _ = next(iter(refused))
            raise _Refused(
                f"metric {name!r} has {have} label sets: {adding[metric_id]} new ones would pass the limit of "
                f"{limit} label sets per metric (METRIC_MAX_LABEL_SETS_PER_METRIC)",
                "labels",
                f"a new label set beyond the limit of {limit} per metric",
                refused,
            )
    MetricLabelSet.objects.bulk_create(
        [MetricLabelSet(metric_id=m, key=k, last_seen=today) for m, k in sorted(new)], ignore_conflicts=True
    )


def _offending(point_series: Iterable[Series], refused: _Refused) -> dict[str, dict[str, list[str]]]:
    """The first points (by index) that carry a refused series, each with the reason."""
    width = len(next(iter(refused.series)))  # (service, name) for a name, the whole series for a label set
    found = {}
    for i, series in enumerate(point_series):
        if series[:width] in refused.series:
            found[str(i)] = {refused.field: [refused.reason]}
            if len(found) == MAX_REPORTED_POINTS:
                break
    return found


def _touch(known, today: date) -> None:
    """Mark known series as seen today: at most one UPDATE per table per series and day."""
    stale_names = {name_id for name_id, name_seen, _, _ in known if name_seen < today}
    stale_sets = {set_id for _, _, set_id, set_seen in known if set_seen < today}
    if stale_names:
        MetricName.objects.filter(pk__in=stale_names).update(last_seen=today)
    if stale_sets:
        MetricLabelSet.objects.filter(pk__in=stale_sets).update(last_seen=today)


def series_forget(*, before: date) -> int:
    """The retention sweep's part: forget label sets and names not seen since `before`."""
    deleted, _ = MetricLabelSet.objects.filter(last_seen__lt=before).delete()
    names, _ = MetricName.objects.filter(last_seen__lt=before).delete()
    return deleted + names
