"""Raw metric points on PostgreSQL: no primary key constraint, and ids drawn from a per-connection cache.

Ingest writes every point once and reads points only by deploy, name and time (the judge's windows, through
point_deploy_name_ts) or by time (retention and seasonal reads, partitions and point_ts_brin); nothing looks a
point up by id. The primary key (id, ts) was one more B-tree insert per point (~0.9 ms of the database's CPU per
1,000 points of a COPY, ~15 %), so the constraint goes; the id column and its sequence default stay (Django's
state is unchanged: the model keeps `id` as its primary key, still unique as every id comes from one sequence).
The sequence hands each connection 1,000 values at a time instead of one per row (ids of concurrent connections
interleave, and values a connection did not use are skipped). SQLite keeps its table as it is.
"""

from django.db import migrations

TABLE = "impact_metricpoint"
SEQUENCE = "impact_metricpoint_point_id_seq"
CACHE = 1000


def lean(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {TABLE}_pkey")
    schema_editor.execute(f"ALTER SEQUENCE {SEQUENCE} CACHE {CACHE}")


def keyed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER SEQUENCE {SEQUENCE} CACHE 1")
    schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, ts)")


class Migration(migrations.Migration):
    dependencies = [("impact", "0008_admin_plurals")]

    operations = [migrations.RunPython(lean, keyed, elidable=False)]
