"""While Redis is down, deploy events are still accepted and stored; the sweep catches the work up later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, os, time
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from tracker.services import project_create, token_issue
from deployments.models import Deploy
project = project_create(slug="p")
raw = token_issue(project=project, name="ci", scopes=["ingest"])[1]
started = time.monotonic()
response = Client().post("/api/v1/deploys", data=json.dumps({"service": "s", "environment": "production",
                         "version": "1"}), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
print(json.dumps({"status": response.status_code, "seconds": time.monotonic() - started,
                  "stored": Deploy.objects.count(), "processed": Deploy.objects.exclude(processed_at=None).count()}))
"""


def test_a_deploy_is_accepted_and_stored_while_the_broker_is_unreachable(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
        "DEBUG": "0",
        "SECRET_KEY": "outage-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'outage.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        # Nothing listens on port 1: every publish fails at once.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "CELERY_BROKER_URL": "",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 201 and outcome["stored"] == 1
    # Not processed yet (the message was lost), which is exactly what the sweep is for.
    assert outcome["processed"] == 0
    assert outcome["seconds"] < 10, outcome
    assert "the sweep will pick it up" in result.stderr
