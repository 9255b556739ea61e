"""The pages load a pinned Plotly partial bundle, not the 4.8 MB full build: it matches the Python package's
plotly.js version, holds every trace type the chart modules build, and every static file a template names exists."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import plotly.graph_objects as go
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.http import HttpResponse
from django.test import RequestFactory
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version
from whitenoise.middleware import WhiteNoiseMiddleware

from tracker.static_storage import HashedStaticFilesStorage

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = "vendor/plotly-basic-4.1.1.min.js"
# What plotly.js-basic-dist-min registers (its README; the browser test reads Plotly's own schema).
BUNDLE_TRACES = {"scatter", "bar", "pie"}
PRODUCT_APPS = ("alerts", "dashboard", "demo", "deployments", "metrics", "rollbacks", "tracker")


def test_the_bundle_is_the_pinned_partial_build_for_the_python_packages_plotly_js():
    path = Path(finders.find(BUNDLE))
    header = path.read_text(encoding="utf-8")[:200]
    assert re.search(r"plotly\.js \(basic - minified\) v(\S+)", header).group(1) == get_plotlyjs_version()
    readme = (ROOT / "static" / "vendor" / "README.md").read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in readme
    assert path.stat().st_size <= 1_500_000


def _trace_types_built_in(source: str) -> set[str]:
    """Plotly trace types built in a module: as plain figures (`trace("<type>", …)`, metrics/chart_theme.py) or as
    graph objects (`go.<Trace>(…)`)."""
    types = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "trace" and node.args:
            kind = node.args[0]
            types.add(kind.value if isinstance(kind, ast.Constant) else "<not a literal>")
        elif isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            cls = getattr(go, name, None)
            is_trace = isinstance(cls, type) and issubclass(cls, BaseTraceType)
            if isinstance(owner, ast.Name) and owner.id == "go" and is_trace:
                types.add(cls().type)
    return types


def test_every_trace_type_the_charts_build_is_in_the_bundle():
    used = set()
    for app in PRODUCT_APPS:
        for module in (ROOT / app).rglob("*.py"):
            used |= _trace_types_built_in(module.read_text())
    assert {"scatter", "bar"} <= used
    assert used <= BUNDLE_TRACES, f"not in the partial bundle: {used - BUNDLE_TRACES}"


def test_the_trace_scan_sees_a_trace_outside_the_bundle():
    assert _trace_types_built_in("import plotly.graph_objects as go\ngo.Histogram(x=[1])") == {"histogram"}
    assert _trace_types_built_in('trace("histogram", x=[1])') == {"histogram"}
    assert _trace_types_built_in("trace(kind, x=[1])") == {"<not a literal>"}


def test_every_static_file_a_template_names_exists():
    names = set()
    for template in (ROOT / "templates").rglob("*.html"):
        names |= set(re.findall(r"""{%\s*static\s+['"]([^'"]+)['"]""", template.read_text()))
    assert BUNDLE in names
    assert [name for name in sorted(names) if not finders.find(name)] == []


def test_the_versioned_bundle_is_served_to_be_cached_for_good(client):
    response = client.get(f"/static/{BUNDLE}")
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert "immutable" not in client.get("/static/js/timeline.js")["Cache-Control"]


def test_collected_static_files_are_served_gzipped_instead_of_the_sources(tmp_path, settings):
    """As in the image: collectstatic writes each file with a .gz twin, and those are what the server sends."""
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", "-v0")
    settings.WHITENOISE_USE_FINDERS = False  # what tracker.settings chooses once STATIC_ROOT exists
    serve = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
    response = serve(RequestFactory().get(f"/static/{BUNDLE}", HTTP_ACCEPT_ENCODING="gzip, br"))
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert int(response["Content-Length"]) < 420_000  # 1.19 MB on disk
    assert "immutable" in response["Cache-Control"]


def test_collected_static_files_are_named_by_their_content_and_cached_for_good(tmp_path, settings):
    """After collectstatic the pages name each file by its content hash, so a changed file gets a new name and an
    unchanged one stays cached; before it (no manifest), the plain name is used."""
    settings.STATIC_ROOT = tmp_path
    assert HashedStaticFilesStorage().url("js/impact.js") == "/static/js/impact.js"
    call_command("collectstatic", "--noinput", "-v0")
    storage = HashedStaticFilesStorage()
    digest = hashlib.md5((ROOT / "static/js/impact.js").read_bytes(), usedforsecurity=False).hexdigest()[:12]
    assert storage.url("js/impact.js") == f"/static/js/impact.{digest}.js"
    settings.WHITENOISE_USE_FINDERS = False
    serve = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
    response = serve(RequestFactory().get(storage.url("js/impact.js"), HTTP_ACCEPT_ENCODING="gzip"))
    assert response.status_code == 200 and "immutable" in response["Cache-Control"]
    assert "immutable" not in serve(RequestFactory().get("/static/js/impact.js"))["Cache-Control"]
