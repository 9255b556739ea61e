"""Static files named by their content once collected, so browsers may cache each for good."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """collectstatic writes each file under a name holding its content hash (`app.3f2a9c1d0b7e.css`) with a gzipped
    twin, and a manifest; `{% static %}` then names the hashed file. Before collectstatic has run (tests, a fresh
    checkout served from the source folders), there is no manifest and the plain name is used."""

    manifest_strict = False

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:
            return name
        return super().stored_name(name)
