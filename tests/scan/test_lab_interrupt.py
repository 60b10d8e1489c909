"""Ctrl-C (SIGINT) or SIGTERM part-way through `camscan scan` on the lab: the scan stops within seconds and
leaves a valid inventory marked incomplete, and with a store the scan stays incomplete there too."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.store import open_store
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import PRIVILEGED, REPO, Lab, running_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not PRIVILEGED:
        pytest.skip("needs root")
    with running_lab("hout", "--profile", "small") as lab:
        yield lab


def _wait_for(path: Path, text: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text(errors='replace')[-2000:]}")


@pytest.mark.parametrize(("sig", "store"), [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_a_signal_part_way_leaves_a_valid_incomplete_inventory(lab: Lab, tmp_path: Path, sig: signal.Signals,
                                                               store: bool) -> None:
    out, db, err = tmp_path / "out", tmp_path / "camscan.db", tmp_path / "stderr"
    # a slow rate keeps the sweep busy long after the signal comes
    cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner", "scan",
           lab.truth()["subnet"], "--out", str(out), "--format", "json,csv,md", "--rate", "100",
           *(["--db", str(db)] if store else ["--no-store"])]
    with err.open("w") as ef:
        p = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "CAMSCAN_LAB": lab.instance}, text=True,
                             stdout=subprocess.PIPE, stderr=ef)
        try:
            _wait_for(err, "phase 1:", 60)
            time.sleep(2.0)
            assert p.poll() is None, "the scan ended before it could be interrupted"
            p.send_signal(sig)   # `lab exec` execs into the scanner: this pid is camscan scan itself
            t0 = time.monotonic()
            stdout, _ = p.communicate(timeout=30)
            took = time.monotonic() - t0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    log = err.read_text()
    assert p.returncode == 128 + sig.value, (p.returncode, log[-2000:])
    assert took < 8, f"{took:.1f}s from {sig.name} to exit\n{log[-2000:]}"
    assert f"scan stopped by {sig.name}" in log
    inv = valid_inventory(out / "inventory.json")
    assert inv["scan"]["complete"] is False
    assert inv["scan"]["stats"]["stopped_by"] == sig.name
    assert inv["devices"], "what the scan found before the signal was not written"
    assert (out / "inventory.csv").exists() and "Incomplete" in (out / "inventory.md").read_text()
    assert not [f for f in os.listdir(out) if f.startswith(".")], "temporary files left behind"
    if store:
        assert "(incomplete)" in stdout
        st = open_store(str(db))
        try:
            rows = st.history()
            assert len(rows) == 1 and rows[0].complete is False
            assert len(st.devices(rows[0].id)) == len(inv["devices"])
            assert st.history(complete_only=True) == []
        finally:
            st.close()


def test_a_scan_left_alone_is_complete_and_its_files_owner_only(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "new"
    p = lab.exec(sys.executable, "-m", "scanner", "scan", lab.truth()["subnet"], "--out", str(out),
                 "--format", "json,csv,md", "--no-store", timeout=300)
    assert p.returncode == 0
    inv = valid_inventory(out / "inventory.json")
    assert inv["scan"]["complete"] is True and "stopped_by" not in inv["scan"]["stats"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()} == {
        "inventory.json": 0o600, "inventory.csv": 0o600, "inventory.md": 0o600}
