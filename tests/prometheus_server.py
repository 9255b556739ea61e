"""A real Prometheus (Debian's `prometheus` package) on 127.0.0.1 for the metric-source tests.

The series are backfilled with `promtool tsdb create-blocks-from openmetrics` into a data directory the test
owns, then Prometheus serves them; the tests query it through the product exactly as a team's store would be.
Missing binaries fail the test (CI installs the package): a skipped test proves nothing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Self

import pytest


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: install Debian's prometheus package (CI does, in .ci/run)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def openmetrics(series: Iterable[tuple[str, dict[str, str], list[tuple[float, float]]]]) -> str:
    """OpenMetrics text for (metric name, labels, [(unix seconds, value)]) — gauges, as promtool reads them."""
    lines, typed = [], set()
    for name, labels, samples in series:
        if name not in typed:
            lines += [f"# HELP {name} test series", f"# TYPE {name} gauge"]
            typed.add(name)
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines += [f"{name}{{{label_text}}} {value!r} {ts:.3f}" for ts, value in samples]
    return "\n".join([*lines, "# EOF", ""])


class PrometheusServer:
    """Backfill once, then start / stop / start again on the same port and data."""

    def __init__(self, directory: Path, data: str) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        source = directory / "series.om"
        source.write_text(data)
        subprocess.run(
            [_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(self.data_dir)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (directory / "prometheus.yml").write_text("global: {}\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        log = open(self.directory / "prometheus.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                _binary("prometheus"),
                f"--config.file={self.directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=30d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {(self.directory / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail("prometheus was not ready within 60 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
