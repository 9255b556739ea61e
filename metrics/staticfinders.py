"""Serve plotly.min.js from the installed plotly package as the static file `vendor/plotly.min.js`.

No CDN and no 4 MB copy in the repository: the version always matches the pinned plotly package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"
STATIC_PATH = "vendor/plotly.min.js"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_DIR))
        self.storage.prefix = "vendor"

    def check(self, **kwargs: Any) -> list:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path != STATIC_PATH:
            return [] if find_all or kwargs.get("all") else None
        found = str(PLOTLY_DIR / "plotly.min.js")
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: list[str] | None):
        yield "plotly.min.js", self.storage
