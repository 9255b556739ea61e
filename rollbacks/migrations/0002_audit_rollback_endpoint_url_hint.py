"""Older audit entries of rollback endpoint changes kept the full URL, which viewers can read: keep the host only."""

from django.db import migrations

from tracker.outbound import url_hint


def forward(apps, schema_editor):
    AuditLog = apps.get_model("tracker", "AuditLog")
    entries = AuditLog.objects.filter(action="rollback_endpoint.updated", details__has_key="url")
    for entry in entries.iterator():
        details = dict(entry.details)
        details["url_hint"] = url_hint(str(details.pop("url")))
        AuditLog.objects.filter(pk=entry.pk).update(details=details)


class Migration(migrations.Migration):
    dependencies = [
        ("rollbacks", "0001_initial"),
        ("tracker", "0002_providerhook"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
