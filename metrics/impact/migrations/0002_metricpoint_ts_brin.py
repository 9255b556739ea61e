"""BRIN index on metric points' timestamps, PostgreSQL only.

Points arrive roughly in time order, so a BRIN index (a few pages for millions of rows) serves retention
deletes and time-range scans at almost no write cost; SQLite (the embedded default) has no BRIN.
"""

from django.db import migrations


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("impact", "MetricPoint")._meta.db_table)
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS point_ts_brin ON {table} USING brin (ts) WITH (pages_per_range = 32)"
        )


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS point_ts_brin")


class Migration(migrations.Migration):
    dependencies = [("impact", "0001_initial")]

    operations = [migrations.RunPython(create_brin, drop_brin)]
