"""Sketch bytes are random-looking floats: PostgreSQL's TOAST compression cannot shrink them, only burn CPU
on every ingest. Store them out of line without compression (PostgreSQL only; a no-op elsewhere)."""

from django.db import migrations


def uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE metrics_columnsketch ALTER COLUMN data SET STORAGE EXTERNAL")


def compressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE metrics_columnsketch ALTER COLUMN data SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_metricpoint_no_fk_constraints")]

    operations = [migrations.RunPython(uncompressed, compressed)]
