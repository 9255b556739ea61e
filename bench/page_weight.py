"""Deploy page weight and first-load time in Chromium, served as in production (gunicorn, collected static files).

Usage:
    python bench/page_weight.py [--runs 5] [--workers 2]

What it does: in a temporary folder, collects the static files (each with its gzipped twin, as the image does),
migrates a SQLite database and seeds the demo; starts gunicorn (DEBUG off) on a free port; logs in as the demo
user; then opens the demo's degraded deploy page --runs times, each in a fresh browser context (empty cache), and
prints, per run and as the median: the JavaScript bytes transferred (on the wire) and decoded, the load event time
and the time until the last impact chart is drawn; then once more with a warm cache (a reload in the same context);
and last the server time alone: the page's HTML fetched --runs times without a browser (median, min, max).
Target (issue 13): the page's JavaScript <= 1.5 MB and its first load < 1 s on the local server. Timing is
measured here, never asserted in tests (the byte budget is: tests/browser/test_timeline_view.py).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const scripts = performance.getEntriesByType("resource").filter((e) => e.initiatorType === "script");
  return {
    load_ms: nav.loadEventEnd - nav.startTime,
    html_ms: nav.responseEnd - nav.startTime,
    js_transferred: scripts.reduce((n, e) => n + e.transferSize, 0),
    js_decoded: scripts.reduce((n, e) => n + e.decodedBodySize, 0),
    scripts: scripts.map((e) => [e.name.split("/").pop(), e.transferSize, e.decodedBodySize]),
  };
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit("gunicorn did not start")


def measure(url: str, state: dict, runs: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        cold = []
        for run in range(runs):
            context = browser.new_context(storage_state=state, viewport={"width": 1440, "height": 900})
            page = context.new_page()
            errors = []
            page.on("console", lambda message, errors=errors: errors.append(message.text))
            started = time.perf_counter()
            response = page.goto(url, wait_until="load")
            try:
                page.locator(".js-plotly-plot").last.locator("svg.main-svg").first.wait_for()
            except PlaywrightTimeout:
                page.screenshot(path=str(ROOT / "var" / "bench-page-weight-failure.png"), full_page=True)
                sys.exit(f"no chart drawn on {page.url} (HTTP {response.status}); console: {errors}")
            charts_ms = (time.perf_counter() - started) * 1000
            figures = page.evaluate(MEASURE) | {"charts_ms": charts_ms}
            cold.append(figures)
            print(f"cold run {run + 1}: HTML {figures['html_ms']:.0f} ms, load {figures['load_ms']:.0f} ms, "
                  f"charts drawn {charts_ms:.0f} ms, JS {figures['js_transferred']:,} B transferred / "
                  f"{figures['js_decoded']:,} B decoded")  # fmt: skip
            if run == runs - 1:
                print("scripts (name, transferred, decoded):", figures["scripts"])
                page.reload(wait_until="load")
                warm = page.evaluate(MEASURE)
                print(
                    f"warm reload: HTML {warm['html_ms']:.0f} ms, load {warm['load_ms']:.0f} ms, JS "
                    f"{warm['js_transferred']:,} B transferred"
                )
            context.close()
        browser.close()
    for key in ("html_ms", "load_ms", "charts_ms", "js_transferred", "js_decoded"):
        print(f"median {key}: {statistics.median(run[key] for run in cold):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR", help="seed into DIR and keep it; a later run with it skips seeding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dt-bench-weight-") as scratch:
        tmp = args.keep or scratch
        seeded = Path(tmp, "tracker.sqlite3").exists()
        env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "bench-only", "DATABASE_URL": "", "REDIS_URL": "",
               "CELERY_BROKER_URL": "", "VAR_DIR": tmp, "STATIC_ROOT": f"{tmp}/static"}  # fmt: skip
        manage(env, "collectstatic", "--noinput", "-v0")
        if not seeded:
            manage(env, "migrate", "-v0")
            manage(env, "seed_demo", "--force")
        degraded = (
            "from metrics.impact.models import ImpactReport as R; print(R.objects.get(verdict='degraded').deploy_id)"
        )
        deploy_id = manage(env, "shell", "--no-imports", "-c", degraded).split()[-1]
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tracker.wsgi", "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(port)
            state = login_state(f"http://127.0.0.1:{port}")
            measure(f"http://127.0.0.1:{port}/demo/deploys/{deploy_id}/", state, args.runs)
            server_time(f"http://127.0.0.1:{port}/demo/deploys/{deploy_id}/", state, args.runs)
        finally:
            server.terminate()
            server.wait(timeout=30)


def server_time(url: str, state: dict, runs: int) -> None:
    """The deploy page's HTML alone, as the server answers it (no browser, no static files)."""
    import urllib.request

    cookie = "; ".join(f"{c['name']}={c['value']}" for c in state["cookies"])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie})) as response:
            size = len(response.read())
        times.append((time.perf_counter() - started) * 1000)
    print(f"server time alone (HTML, {size:,} B): median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}) over {runs} requests")  # fmt: skip


def login_state(base: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        state = page.context.storage_state()
        browser.close()
        return state


if __name__ == "__main__":
    main()
