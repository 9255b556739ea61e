"""While Redis is down, prediction samples are still accepted and stored; the drift sweep catches up later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, time
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from deployments.services import deploy_record
from metrics.drift.models import ColumnSketch, DriftReport
from tracker.services import project_create, token_issue
project = project_create(slug="p")
deploy_record(project=project, service="s", environment="production", version="1")
raw = token_issue(project=project, name="model", scopes=["ingest"])[1]
body = {"service": "s", "environment": "production", "deploy": "1",
        "columns": {"amount": [1.5, 2.5, None]}, "prediction": [0.1, 0.2, 0.3]}
started = time.monotonic()
response = Client().post("/api/v1/predictions", data=json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {raw}")
report = DriftReport.objects.first()
print(json.dumps({"status": response.status_code, "seconds": time.monotonic() - started,
                  "sketches": ColumnSketch.objects.count(), "due": report is not None and report.due_at is not None}))
"""


def test_samples_are_accepted_and_stored_while_the_broker_is_unreachable(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
        "DEBUG": "0",
        "SECRET_KEY": "outage-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'outage.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens on port 1: every publish fails at once
        "CELERY_BROKER_URL": "",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 202 and outcome["sketches"] == 2
    assert outcome["due"]  # the recomputation stays due: the sweep resends it once the broker is back
    assert outcome["seconds"] < 10, outcome
    assert "the sweep will pick it up" in result.stderr
