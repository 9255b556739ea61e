"""SQL that the ORM cannot say in one statement, built from the models (PostgreSQL and SQLite alike)."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def insert_values(objs: list[models.Model]) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) VALUES (…), (…)` for unsaved instances of one model, and its parameters.

    Every concrete field but the automatic primary key gets what a save would write (defaults, auto_now, JSON
    adaptation), so a caller can append `ON CONFLICT … DO UPDATE … WHERE … RETURNING …`: an upsert that
    reports which rows it inserted or changed, in one round trip."""
    meta = objs[0]._meta
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` looks itself up again on every use
    fields = [f for f in meta.concrete_fields if not isinstance(f, models.AutoField)]
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in fields]
    # Only the table and column names of the model are interpolated; every value is a parameter.
    sql = f"INSERT INTO {db.ops.quote_name(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(objs))}"  # noqa: S608
    return sql, params


def execute_together(statements: list[tuple[str, list] | None]) -> list[tuple]:
    """Run statements in order and return the rows of the last one (RETURNING).

    On PostgreSQL they travel as one query string: one round trip instead of one each (each of the ingest
    path's few statements costs a round trip, and a loaded machine makes round trips slow). Only for
    statements with parameters and no results but the last one's. SQLite runs in-process: one by one."""
    statements = [statement for statement in statements if statement is not None]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
