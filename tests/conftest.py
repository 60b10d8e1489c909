"""Test-wide settings: scans the tests run record into a throwaway store, never the user's own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _throwaway_store() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="camscan-test-store-") as d:
        old = os.environ.get("CAMSCAN_DB")
        os.environ["CAMSCAN_DB"] = str(Path(d) / "camscan.db")
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("CAMSCAN_DB", None)
            else:
                os.environ["CAMSCAN_DB"] = old
