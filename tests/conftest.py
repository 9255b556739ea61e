"""The shared world: alice (admin) and bob (deployer) and vera (viewer) on project alpha;
charlie, an outsider, owns project charlie-co. Plus tokens, API clients and a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from tests.helpers import client_for
from tracker.models import Project, Role
from tracker.services import membership_set, project_create, token_issue

ROOT = Path(__file__).resolve().parent.parent
# Every /api/v1 answer received through the test client is checked against the served OpenAPI schema.
pytest_plugins = ["tests.openapi_responses"]
# Playwright's sync API runs an event loop in the test thread; the ORM calls there are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
ALL_SCOPES = ["ingest", "read", "rollback", "admin"]


def _forbid_reads_beside_the_checkout() -> None:
    """A user's clone has nothing beside it (CI has ../shared): a test that opens a file there fails at once.

    Paths under the system temp directory stay allowed when the checkout itself lives there (pytest's
    tmp_path and the tests' own temp files would otherwise count as beside it)."""
    beside = str(ROOT.parent) + os.sep
    inside = str(ROOT) + os.sep
    temp = os.path.realpath(tempfile.gettempdir()) + os.sep
    forbidden_root = beside if beside != os.sep else None
    # The interpreter and its packages may live anywhere, a virtualenv beside the checkout included.
    python_homes = tuple(
        str(Path(home).resolve()) + os.sep for home in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    ) + tuple(os.path.abspath(home) + os.sep for home in {sys.prefix, sys.base_prefix, sys.exec_prefix})

    def audit(event: str, args: tuple) -> None:
        if event != "open" or forbidden_root is None or not isinstance(args[0], str | bytes | os.PathLike):
            return
        path = os.path.abspath(os.fsdecode(args[0]))
        if not path.startswith(forbidden_root) or path.startswith(inside) or path.startswith(python_homes):
            return
        if path.startswith(temp) and not path.startswith(forbidden_root + "shared" + os.sep):
            return
        _READS_BESIDE_THE_CHECKOUT.append(path)
        raise PermissionError(f"tests must read nothing outside the checkout ({ROOT}), but opened {path}")

    sys.addaudithook(audit)


_READS_BESIDE_THE_CHECKOUT: list[str] = []


_forbid_reads_beside_the_checkout()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Even a read whose PermissionError a test swallowed fails the run (the test itself should expect it)."""
    unexpected = [path for path in _READS_BESIDE_THE_CHECKOUT if not path.endswith(_PROBE_NAME)]
    if unexpected:
        session.config.stash[_beside_key] = unexpected
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for path in config.stash.get(_beside_key, []):
        terminalreporter.write_line(f"FAILED: a test read {path}, outside the checkout", red=True)


_beside_key = pytest.StashKey[list[str]]()
_PROBE_NAME = "deploy-tracker-probe-of-the-outside-read-guard"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `services` test on SQLite must fail loudly, never skip: CI deselects them with -m instead."""
    using_sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    for item in items:
        if item.get_closest_marker("services") and (using_sqlite or not settings.REDIS_URL):
            item.add_marker(pytest.mark.usefixtures("_require_services"))


@pytest.fixture
def _require_services() -> None:
    pytest.fail("this test needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); deselect with -m 'not services'")


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def vera(db) -> User:
    return User.objects.create_user("vera", "vera@example.com", "vera-password")


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.com", "charlie-password")


@pytest.fixture
def project(alice, bob, vera) -> Project:
    project = project_create(slug="alpha", name="Alpha", owner=alice)
    membership_set(project=project, user=bob, role=Role.DEPLOYER)
    membership_set(project=project, user=vera, role=Role.VIEWER)
    return project


@pytest.fixture
def other_project(charlie) -> Project:
    return project_create(slug="charlie-co", name="Charlie Co", owner=charlie)


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(project: Project, scopes: list[str] | None = None) -> str:
        _, raw = token_issue(project=project, name="test", scopes=scopes or ALL_SCOPES)
        return raw

    return make


@pytest.fixture
def token(project, make_token) -> str:
    """A token of project alpha with every scope."""
    return make_token(project)


@pytest.fixture
def other_token(other_project, make_token) -> str:
    return make_token(other_project)


@pytest.fixture
def api(token) -> APIClient:
    return client_for(token)


@pytest.fixture
def other_api(other_token) -> APIClient:
    return client_for(other_token)


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def _celery_worker_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") or not settings.REDIS_URL:
        pytest.fail("the real worker needs PostgreSQL and Redis")
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {**os.environ, "DATABASE_URL": database_url, "DB_CONN_MAX_AGE": "0", "PYTHONUNBUFFERED": "1"}
    # Retries within seconds, so end-to-end tests can watch a failed send succeed later.
    env.setdefault("ROLLBACK_RETRY_BASE_SECONDS", "1")
    return env


@pytest.fixture
def celery_worker_process(transactional_db, _celery_worker_env, request) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the test database and the configured Redis broker, one per test.
    `@pytest.mark.worker_env(NAME="value", …)` adds settings for this test's worker only.

    Each test gets a fresh worker on an emptied broker database, and the worker is killed before the test's
    tables are flushed: a worker still busy with a previous test's retries would otherwise deadlock the
    flush or write rows into the next test. REDIS_URL must name a Redis database used only by the tests.
    """
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    env = {**_celery_worker_env, **getattr(request.node.get_closest_marker("worker_env"), "kwargs", {})}
    worker, log = _worker_start(env)
    yield worker
    worker.kill()
    worker.wait(timeout=30)
    log.close()


@pytest.fixture
def celery_worker_restart(celery_worker_process, _celery_worker_env, request) -> Iterator[Callable[..., object]]:
    """Kill a worker the hard way (SIGKILL: no goodbye, its message unacknowledged) and start a fresh one.
    Extra arguments go to `celery worker` (e.g. "--beat"). Every worker started here dies before the flush."""
    env = {**_celery_worker_env, **getattr(request.node.get_closest_marker("worker_env"), "kwargs", {})}
    started: list[tuple[subprocess.Popen, object]] = []

    def restart(worker: subprocess.Popen, *extra: str) -> subprocess.Popen:
        worker.kill()
        worker.wait(timeout=30)
        fresh, log = _worker_start(env, *extra)
        started.append((fresh, log))
        return fresh

    yield restart
    for worker, log in started:
        worker.kill()
        worker.wait(timeout=30)
        log.close()


def _worker_start(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen, object]:
    log_path = ROOT / "var" / "test-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log = open(log_path, "a")  # noqa: SIM115 - lives as long as the worker
    log.write(f"\n===== worker for {os.environ.get('PYTEST_CURRENT_TEST', '?')}\n")
    log.flush()
    start = log_path.stat().st_size
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracker",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            *extra,
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _wait_for_worker(worker, log_path, start)
    return worker, log


def _wait_for_worker(worker: subprocess.Popen, log_path: Path, start: int, timeout: float = 60) -> None:
    def this_workers_log() -> str:
        with open(log_path) as log:
            log.seek(start)
            return log.read()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"celery worker exited early:\n{this_workers_log()[-3000:]}")
        if "ready." in this_workers_log():
            return
        time.sleep(0.2)
    worker.kill()
    pytest.fail(f"celery worker not ready after {timeout}s:\n{this_workers_log()[-3000:]}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no downloaded browser builds)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def login(live_server) -> Callable[..., None]:
    def log_in(page, username: str, password: str) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    return log_in


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> None:
    # The world creates several users per test; PBKDF2's deliberate slowness buys nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_in_process_unless_a_real_worker(request) -> Iterator[None]:
    """Tasks run in-process in ordinary tests (nothing leaks into Redis); only the tests that start the real
    worker send their tasks through the broker."""
    from tracker.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = "celery_worker_process" not in request.fixturenames
    yield
    app.conf.task_always_eager = previous
