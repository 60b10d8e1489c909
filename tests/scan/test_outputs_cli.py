"""`camscan scan` refuses a symlink planted where an output file goes before it sends anything.
Runs inside an empty network namespace, so a refusal that failed sends nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.conftest import PRIVILEGED, REPO
from tests.netns import empty_netns

pytestmark = pytest.mark.lab


@pytest.fixture()
def empty_ns() -> Iterator[str]:
    if not PRIVILEGED:
        pytest.skip("needs root")
    with empty_netns("thoutout") as name:
        yield name

def test_a_planted_symlink_is_refused_before_anything_is_sent(empty_ns: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "inventory.md").symlink_to(victim)
    p = subprocess.run(["ip", "netns", "exec", empty_ns, sys.executable, "-m", "scanner", "scan", "198.18.0.0/30",
                        "--out", str(out), "--format", "json,md", "--no-store"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "inventory.md is a symlink" in p.stderr
    assert "phase 1" not in p.stderr, "the scan started before the outputs were checked"
    assert victim.read_text() == "precious\n"
    assert sorted(f.name for f in out.iterdir()) == ["inventory.md"]
