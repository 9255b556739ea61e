"""A pattern that guards input matches the whole value: `$` alone also matches before a final newline in
Python, which let "latency_ms\\n" through to PostgreSQL's COPY (a 500). Patterns end in `\\Z` (Django and DRF
validators; drf-spectacular documents it as ECMA's `$`), in `$(?!\\n)` where the pattern is also served as
JSON Schema (metrics.payloads.whole), or are used with re.fullmatch."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {".venv", "var", "tests", "bench", "staticfiles", ".git", "node_modules", "migrations"}
# Known and harmless, with the reason.
ALLOWED = {
    # models.SlugField adds Django's validate_slug (`\Z`), which refuses the newline first; changing this
    # validator's pattern would only add a no-op migration to the core app.
    ("tracker/models.py", "^[a-z0-9][a-z0-9-]{0,49}$"),
}


def _anchored_with_a_bare_dollar() -> set[tuple[str, str]]:
    found = set()
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if NOT_PRODUCT & set(relative.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text.startswith("^") and text.endswith("$") and not text.endswith("\\$"):
                    found.add((str(relative), text))
    return found


def test_no_input_pattern_ends_in_a_bare_dollar():
    assert _anchored_with_a_bare_dollar() - ALLOWED == set()


def test_the_allowed_exceptions_still_exist():
    assert _anchored_with_a_bare_dollar() >= ALLOWED
