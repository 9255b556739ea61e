"""The suite runs in a clone with nothing beside it: reading a file beside the checkout fails the test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _PROBE_NAME, ROOT


def test_it_refuses_to_open_a_file_beside_the_checkout():
    with pytest.raises(PermissionError, match="outside the checkout"):
        (ROOT.parent / "shared" / "fixtures" / _PROBE_NAME).read_text()


def test_it_still_opens_files_inside_the_checkout():
    assert (ROOT / "tests" / "fixtures" / "signing-vectors.json").read_text().startswith("{")


def test_it_still_opens_temporary_files(tmp_path: Path):
    (tmp_path / "x.txt").write_text("ok")
    assert (tmp_path / "x.txt").read_text() == "ok"
