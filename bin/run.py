"""`make run`: the embedded demo, a Django web server and a Celery worker with beat, supervised together.

Fails at once on a busy port, writes the env file that manage.py reads (so management commands reach this
install), migrates, seeds the demo, then serves until a signal arrives or a child exits. Each child leads its
own process group, so a Ctrl+C reaches it once, from here, instead of from the terminal as well.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 4.0
PR_SET_CHILD_SUBREAPER = 36
# What make run is, whatever the shell says: the demo (DEBUG on) with its worker on the filesystem transport.
FIXED = {"DEBUG": "1", "CELERY_BROKER_URL": "filesystem://"}


def port_problem(port: int) -> str | None:
    """Why runserver could not bind 127.0.0.1:port, or None; checked before anything else starts."""
    if not 0 < port < 65536:
        return f"PORT must be a number from 1 to 65535, not {port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # runserver binds with SO_REUSEADDR too, so a port left in TIME_WAIT is free for both.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is already in use — set PORT=… to use another (e.g. PORT={port + 1} make run)"
            return f"cannot serve on 127.0.0.1:{port}: {exc.strerror}"
    return None


def run_environment(port: int) -> dict[str, str]:
    """The variables make run sets; a non-empty variable in the shell overrides all but FIXED."""
    defaults = {
        "SITE_URL": f"http://127.0.0.1:{port}",
        # The demo's alert channel and rollback endpoint post to its own /demo-receiver/ on loopback.
        "OUTBOUND_ALLOW_HTTP": "1",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    return {**{name: os.environ.get(name) or value for name, value in defaults.items()}, **FIXED}


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by make run; manage.py reads it for variables the environment does not set."]
    path.write_text("\n".join(lines + [f"{name}={value}" for name, value in sorted(values.items())]) + "\n")


def adopt_orphans() -> None:
    """Become the parent of what a child leaves behind (Celery never reaps its beat process), to reap it here."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Children:
    """Child processes, each leading its own process group, stopped together with one signal each."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_signal: int | None = None

    def start(self, name: str, *argv: str) -> None:
        if self.stop_signal is None:  # a stop that came first starts nothing more
            self.running[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, process_group=0)  # noqa: S603

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            # SIGTERM stops runserver, Celery (warm shutdown) and manage.py steps without a traceback.
            self._signal_all(signal.SIGTERM)
        else:  # a second Ctrl+C: no more waiting
            self._signal_all(signal.SIGKILL)

    def run_step(self, name: str, *argv: str) -> int:
        """Run a setup step to its end; its exit status (or 128 + the signal that stopped make run)."""
        self.start(name, *argv)
        code = self.running[name].wait() if name in self.running else 0
        self.running.pop(name, None)
        return 128 + self.stop_signal if self.stop_signal else code

    def supervise(self) -> int:
        """Serve until a signal or a child's own exit, then stop everything; make run's exit status."""
        while self.stop_signal is None and not (exited := self._exited()):
            time.sleep(0.1)
        if self.stop_signal is None:
            print(f"{', '.join(exited)} exited on its own; stopping", file=sys.stderr)
            self.request_stop(signal.SIGTERM)
            status = 1
        else:
            status = 128 + self.stop_signal
        killed = self._wait_or_kill()
        after = f" ({killed} killed after {GRACE_SECONDS:g} s)" if killed else ""
        print(f"Deploy Tracker stopped{after}.", file=sys.stderr)
        return status

    def _exited(self) -> list[str]:
        return [name for name, child in self.running.items() if child.poll() is not None]

    def _signal_all(self, signum: int) -> None:
        for child in self.running.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signum)

    def _wait_or_kill(self) -> str:
        """Wait up to the grace period for every child, then kill what is left; names the children killed."""
        deadline = time.monotonic() + GRACE_SECONDS
        while len(self._exited()) < len(self.running) and time.monotonic() < deadline:
            time.sleep(0.05)
        stuck = [name for name, child in self.running.items() if child.poll() is None]
        # Also whatever a child left behind in its group (runserver's server process, Celery's beat).
        self._signal_all(signal.SIGKILL)
        for child in self.running.values():
            child.wait()
        reap_adopted()
        return " and ".join(stuck)


def reap_adopted(timeout: float = 1.0) -> None:
    """Reap adopted orphans; each was in a child's group, so the SIGKILL just sent reaches it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return
        if not pid:
            time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    port = parser.parse_args().port
    if problem := port_problem(port):
        print(problem, file=sys.stderr)
        return 1
    values = run_environment(port)
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var")
    write_env_file(var_dir / "run.env", values)  # the path manage.py reads
    adopt_orphans()
    children = Children({**os.environ, **values})
    signal.signal(signal.SIGINT, children.request_stop)
    signal.signal(signal.SIGTERM, children.request_stop)
    for step in (("migrate", "--noinput", "-v0"), ("seed_demo",)):
        if code := children.run_step(step[0], sys.executable, "manage.py", *step):
            if children.stop_signal:
                print("Deploy Tracker stopped.", file=sys.stderr)
            return code
    schedule = str(var_dir / "celerybeat-schedule")
    children.start("worker", sys.executable, "-m", "celery", "-A", "tracker", "worker", "-B", "--pool=solo",
                   "--loglevel=WARNING", "--schedule", schedule)  # fmt: skip
    children.start("web server", sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}")
    banner = f"Deploy Tracker on http://127.0.0.1:{port}/demo/  (demo login: demo / demo — demo only; Ctrl+C stops it)"
    print(banner, flush=True)
    return children.supervise()


if __name__ == "__main__":
    sys.exit(main())
