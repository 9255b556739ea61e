"""Every third-party package the product imports is pinned in requirements.txt, and nothing unused is."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {".venv", "var", "tests", "bench", "staticfiles", ".git", "node_modules"}
# Installed with another pin rather than imported by name.
INDIRECT = {"psycopg2-binary", "gunicorn", "drf-spectacular-sidecar", "whitenoise", "redis", "django-axes"}


def _pins(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==", line.strip())
        if match:
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def _local_packages() -> set[str]:
    return {path.parent.name for path in ROOT.glob("*/__init__.py")} | {path.stem for path in ROOT.glob("*.py")}


def _product_sources() -> list[Path]:
    return [path for path in ROOT.rglob("*.py") if not NOT_PRODUCT & set(path.relative_to(ROOT).parts)]


def _imported_distributions() -> set[str]:
    modules = set()
    for source in _product_sources():
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | _local_packages()
    owners = packages_distributions()
    return {dist.lower().replace("_", "-") for module in modules for dist in owners.get(module, [module])}


def test_every_imported_package_is_pinned():
    missing = _imported_distributions() - _pins(ROOT / "requirements.txt")
    assert not missing, f"imported but not pinned in requirements.txt: {sorted(missing)}"


def test_every_pinned_package_is_used():
    unused = _pins(ROOT / "requirements.txt") - _imported_distributions() - INDIRECT
    assert not unused, f"pinned but never imported: {sorted(unused)}"
