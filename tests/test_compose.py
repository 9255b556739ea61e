"""docker-compose.yml cannot be started here (no Docker engine); test what can be: its shape, and that its
commands and settings are the ones this codebase and its tests use."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_the_production_shape():
    assert set(COMPOSE["services"]) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web", "worker"):
        assert COMPOSE["services"][name]["healthcheck"]["test"], name


def test_the_web_migrates_then_serves_the_wsgi_app_with_gunicorn():
    command = " ".join(COMPOSE["services"]["web"]["command"])
    assert command.index("manage.py migrate") < command.index("gunicorn tracker.wsgi")
    assert callable(importlib.import_module("tracker.wsgi").application)


def test_worker_and_beat_run_the_projects_celery_app():
    assert COMPOSE["services"]["worker"]["command"][:4] == ["celery", "-A", "tracker", "worker"]
    assert COMPOSE["services"]["beat"]["command"][:4] == ["celery", "-A", "tracker", "beat"]
    app = importlib.import_module("tracker.celery").app
    assert app.main == "tracker"


def test_every_variable_it_sets_is_read_by_settings_and_documented():
    settings_source = (ROOT / "tracker" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(COMPOSE["x-app"]["environment"])
    assert names >= {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    for name in names:
        assert re.search(rf'env_\w+\("{name}"', settings_source), f"{name} is not read by settings.py"
        assert f"`{name}`" in readme, f"{name} is not documented in the README"


def test_the_image_leaves_secrets_and_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".env", ".git", ".venv", "var"} <= ignored
