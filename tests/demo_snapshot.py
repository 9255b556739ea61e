"""The seeded demo for tests that read or act on it, seeded once per test session.

`manage.py seed_demo` replays four weeks of history through the product (tens of seconds). Tests that need
the seeded demo as their starting point call `seeded_demo()` instead: the first call in a session runs the real
command and keeps the rows it wrote; later calls write those rows back (a second or two), every timestamp moved
forward by the whole minutes since, so the demo is exactly as old relative to now as a fresh seeding would be.
Then the command's own last step runs again: the demo's channel and rollback endpoint are pointed at this
test's SITE_URL. `tests/demo/test_seed_demo.py` runs the real command every time: it tests the seeding itself.

What is kept is what the command wrote (rows that were not there before it ran), except the process-wide event
counters (`/metrics` counts what this process saw, not what a snapshot did).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from demo.selectors import DEMO_SLUG
from demo.services import demo_receiver_connect, demo_user_ensure
from tracker.models import EventCount, Project

NOT_KEPT = {EventCount}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass
class _Table:
    model: type[models.Model]
    fields: list[models.Field]
    rows: list[tuple]


@dataclass
class _Snapshot:
    taken_at: datetime
    tables: list[_Table]


_snapshot: _Snapshot | None = None


def seeded_demo() -> Project:
    """The demo project as `manage.py seed_demo --force` leaves it (call outside any transaction)."""
    global _snapshot
    if _snapshot is None:
        before = {model: set(model._base_manager.values_list("pk", flat=True)) for model in _models()}
        call_command("seed_demo", "--force")
        _snapshot = _take(before)
    else:
        _restore(_snapshot)
        demo_receiver_connect(project=Project.objects.get(slug=DEMO_SLUG), user=demo_user_ensure())
    return Project.objects.get(slug=DEMO_SLUG)


def _models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model not in NOT_KEPT
    ]


def _take(before: dict[type[models.Model], set]) -> _Snapshot:
    tables = []
    for model in _models():
        fields = list(model._meta.concrete_fields)
        rows = [
            row
            for row in model._base_manager.order_by("pk").values_list(*[f.attname for f in fields])
            if row[[f.primary_key for f in fields].index(True)] not in before.get(model, ())
        ]
        if rows:
            tables.append(_Table(model, fields, rows))
    return _Snapshot(taken_at=timezone.now(), tables=tables)


def _restore(snapshot: _Snapshot) -> None:
    # Whole minutes keep per-minute rollups on their minute boundaries.
    shift = timedelta(minutes=(timezone.now() - snapshot.taken_at) // timedelta(minutes=1))
    with transaction.atomic(), connection.cursor() as cursor:
        for table in snapshot.tables:
            # Names from the models' own metadata, values as parameters.
            name = connection.ops.quote_name(table.model._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(f.column) for f in table.fields)
            rows = [
                tuple(
                    f.get_db_prep_save(_shifted(v, shift), connection) for f, v in zip(table.fields, row, strict=True)
                )
                for row in table.rows
            ]
            if connection.vendor == "postgresql":  # one statement per thousand rows, not one per row
                from psycopg2.extras import execute_values

                execute_values(cursor.cursor, f"INSERT INTO {name} ({columns}) VALUES %s", rows, page_size=1000)  # noqa: S608
            else:
                marks = ", ".join(["%s"] * len(table.fields))
                cursor.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        for sql in connection.ops.sequence_reset_sql(no_style(), [t.model for t in snapshot.tables]):
            cursor.execute(sql)


def _shifted(value: Any, shift: timedelta) -> Any:
    """A stored value as it would be had the history been replayed `shift` later (times inside JSON too)."""
    if isinstance(value, datetime):
        return value + shift
    if isinstance(value, date):
        return (datetime.combine(value, datetime.min.time()) + shift).date()
    if isinstance(value, dict):
        return {key: _shifted(item, shift) for key, item in value.items()}
    if isinstance(value, list):
        return [_shifted(item, shift) for item in value]
    if isinstance(value, str) and _ISO.match(value):
        try:
            moved = datetime.fromisoformat(value) + shift
        except ValueError:
            return value
        text = moved.isoformat(sep=value[10])
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    return value
