"""Sketch bytes are random-looking floats: PostgreSQL's TOAST compression cannot shrink them, only burn CPU
on every ingest. Store them out of line without compression (PostgreSQL only; a no-op elsewhere)."""

from django.db import migrations

SKETCH_MODELS = ("ColumnSketch", "QualitySketch")


def _set_storage(apps, schema_editor, storage: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SKETCH_MODELS:
        table = schema_editor.quote_name(apps.get_model("drift", name)._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN data SET STORAGE {storage}")


def uncompressed(apps, schema_editor):
    _set_storage(apps, schema_editor, "EXTERNAL")


def compressed(apps, schema_editor):
    _set_storage(apps, schema_editor, "EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("drift", "0001_initial")]

    operations = [migrations.RunPython(uncompressed, compressed)]
