"""The in-process mode's sweep thread (tracker/inprocess.py): one per process, one lock holder per VAR_DIR,
started by the WSGI application's first request and by nothing else."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import maybe_schedule
from django.conf import settings

from tracker import inprocess

ROOT = Path(__file__).resolve().parents[2]
TAKE_THE_LOCK = """
import fcntl, sys
handle = open(sys.argv[1], "a")
try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print("busy")
else:
    print("taken")
"""


@pytest.fixture
def in_process_mode(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", True)
    monkeypatch.setattr(settings, "INPROCESS_SWEEPS", True)
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)
    monkeypatch.setattr(inprocess, "_thread", None)


def another_process_takes(path: Path) -> str:
    done = subprocess.run([sys.executable, "-c", TAKE_THE_LOCK, str(path)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_a_second_process_does_not_get_the_lock_until_the_holder_lets_go(tmp_path):
    path = tmp_path / "sweeps.lock"
    held = inprocess.try_lock(path)
    assert held is not None
    assert another_process_takes(path) == "busy"
    assert inprocess.try_lock(path) is None  # a second open file in the same process is refused too
    held.close()  # what the kernel does when the holder dies
    assert another_process_takes(path) == "taken"


def test_the_thread_is_started_once_per_process(in_process_mode, monkeypatch):
    release = threading.Event()
    runs = []
    monkeypatch.setattr(inprocess, "_run_forever", lambda: runs.append(1) or release.wait(5))
    first = inprocess.start()
    second = inprocess.start()
    release.set()
    first.join(5)
    assert first is second and first.daemon and first.name == inprocess.THREAD_NAME
    assert runs == [1]


def test_the_first_request_starts_the_thread_and_later_ones_do_not(in_process_mode, monkeypatch):
    started = []
    monkeypatch.setattr(inprocess, "start", lambda: started.append(1) or setattr(inprocess, "_thread", "running"))
    app = inprocess.with_sweeps(lambda environ, start_response: [b"ok"])
    assert app({}, None) == [b"ok"] and app({}, None) == [b"ok"]
    assert started == [1]


@pytest.mark.parametrize(("eager", "switch"), [(False, True), (True, False)])
def test_nothing_starts_with_a_broker_or_with_the_switch_off(in_process_mode, monkeypatch, eager, switch):
    monkeypatch.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", eager)
    monkeypatch.setattr(settings, "INPROCESS_SWEEPS", switch)
    wsgi_app = object()
    assert inprocess.with_sweeps(wsgi_app) is wsgi_app
    assert inprocess.start() is None


def test_importing_the_wsgi_application_starts_nothing():
    import tracker.wsgi  # noqa: F401 - what gunicorn and runserver import

    assert inprocess.THREAD_NAME not in {t.name for t in threading.enumerate()}


def test_manage_py_commands_never_start_the_sweeps(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "inprocess-test-only",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tracker.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "INPROCESS_SWEEPS": "1",
    }
    show_threads = "import threading, time; time.sleep(0.5); print(sorted(t.name for t in threading.enumerate()))"
    for command in (["migrate", "--noinput", "-v0"], ["check"], ["shell", "-c", show_threads]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert inprocess.THREAD_NAME not in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "['MainThread']"
    assert not (tmp_path / "inprocess-sweeps.lock").exists()  # a started thread takes the lock at once


def test_every_beat_entry_is_run_at_its_own_interval():
    sweeps = inprocess.sweeps_from_settings()
    assert [s.name for s in sweeps] == list(settings.CELERY_BEAT_SCHEDULE)
    assert [s.task for s in sweeps] == [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
    for sweep in sweeps:
        assert sweep.schedule.run_every.total_seconds() == settings.CELERY_BEAT_SCHEDULE[sweep.name]["schedule"]


class FakeTask:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def apply(self, *, args: tuple, kwargs: dict, throw: bool) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the database went away")


def test_a_sweep_runs_when_due_inside_fresh_connections_and_errors_do_not_stop_the_loop(monkeypatch, caplog):
    tasks = {"fast": FakeTask(fail=True), "slow": FakeTask()}
    connection_checks = []
    monkeypatch.setattr(inprocess, "_task", tasks.__getitem__)
    monkeypatch.setattr(inprocess, "close_old_connections", lambda: connection_checks.append(1))
    fast = inprocess.Sweep("fast", "fast", maybe_schedule(timedelta(seconds=10)))
    slow = inprocess.Sweep("slow", "slow", maybe_schedule(3600.0))
    with caplog.at_level(logging.ERROR, logger="tracker.inprocess"):
        inprocess.run_due([fast, slow])  # never run: both due at once
        inprocess.run_due([fast, slow])  # nothing due yet
        fast.last_run_at -= timedelta(seconds=11)
        inprocess.run_due([fast, slow])
    assert (tasks["fast"].calls, tasks["slow"].calls) == (2, 1)
    assert len(connection_checks) == 2 * 3  # before and after each run
    assert caplog.text.count("in-process sweep fast failed") == 2
    assert 3590 < slow.seconds_until_due() <= 3600
