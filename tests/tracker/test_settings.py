from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tracker.settings import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_every_environment_variable_read_by_settings_is_documented_in_the_readme():
    names = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "tracker" / "settings.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(name for name in names if f"`{name}`" not in readme)
    assert not undocumented, f"document these in the README's configuration table: {undocumented}"


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("off", False), ("0", False)])
def test_booleans_parse_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not expected) is expected


def test_bad_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)


def test_lists_are_comma_separated_and_trimmed(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    assert env_list("X_LIST") == ["a", "b", "c"]


def test_a_secret_key_is_required_when_debug_is_off():
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "tracker.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "SECRET_KEY is required" in result.stderr
