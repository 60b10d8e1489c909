"""`camscan scan --engine nmap` on the lab's `small` site: the devices and makers the native engine finds, the
SSH greetings through nmap, and a SIGTERM that ends nmap with the scan."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.evaluate import score
from tests.lab.conftest import REPO, Lab, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.skipif(shutil.which("nmap") is None, reason="needs nmap")]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("nm", "--profile", "small", "--seed", "3") as lab:
        yield lab


def _scan(lab: Lab, out: Path, *args: str) -> dict[str, Any]:
    p = lab.exec(sys.executable, "-m", "scanner", "scan", lab.truth()["subnet"], "--no-store", "-q", "--out",
                 str(out), *args, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    inv: dict[str, Any] = json.loads((out / "inventory.json").read_text())
    return inv


def _who(inv: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {d["ip"]: (d["vendor"], d["model"], d["category"]) for d in inv["devices"]}


def test_nmap_engine_finds_and_names_what_the_native_engine_does(lab: Lab, tmp_path: Path) -> None:
    truth = lab.truth()
    native = _scan(lab, tmp_path / "native")
    nm = _scan(lab, tmp_path / "nmap", "--engine", "nmap")
    stats = nm["scan"]["stats"]
    assert stats["engine"] == "nmap" and "nmap" in nm["scan"]["modules"] and "arp" not in nm["scan"]["modules"]
    assert stats["nmap.hosts"] == len(truth["devices"]) and stats["nmap.runs"] == 2
    assert not [e for e in nm["scan"]["errors"] if e["module"] == "nmap"]
    assert _who(nm) == _who(native)                     # every device, with the same maker, model and category
    a, b = score(truth, nm["devices"]), score(truth, native["devices"])
    assert (a.found, a.maker_right) == (b.found, b.maker_right) and a.found == a.surveillance_truth
    ssh = {t["ip"] for t in truth["devices"] if t["persona"] in ("managed-switch", "huawei-router")}
    assert ssh                                          # devices whose SSH greeting names their maker
    banners = {d["ip"] for d in nm["devices"] for e in d["evidence"] if e["signal"] == "ssh.banner"}
    assert ssh <= banners                               # read by nmap's banner pass, as the native TCP module does
    assert set(stats) >= {"seconds.nmap.sweep", "seconds.nmap.banners"}


def _nmap_children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (d / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and comm == "nmap":
            out.append(int(d.name))
    return out


def test_sigterm_ends_nmap_and_writes_an_incomplete_inventory(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # at 20 probes a second nmap's sweep of the /24 runs for minutes: the signal comes while it does
    cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner", "scan",
           lab.truth()["subnet"], "--engine", "nmap", "--rate", "20", "--no-store", "-q", "-o", str(out)]
    p = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "CAMSCAN_LAB": lab.instance}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 60
        while not (children := _nmap_children(p.pid)):
            assert p.poll() is None and time.monotonic() < end, "nmap never started"
            time.sleep(0.1)
        time.sleep(1)
        p.send_signal(signal.SIGTERM)   # `lab exec` execs into camscan: this pid is nmap's parent
        _, stderr = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, stderr[-3000:]
    assert not [c for c in children if Path(f"/proc/{c}").exists()]   # nmap ended with the scan
    inv = json.loads((out / "inventory.json").read_text())
    assert inv["scan"]["complete"] is False and inv["scan"]["stats"]["stopped_by"] == "SIGTERM"


def test_ctrl_c_to_the_process_group_stops_the_scan_without_an_nmap_error(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner", "scan",
           lab.truth()["subnet"], "--engine", "nmap", "--rate", "20", "--no-store", "-q", "-o", str(out)]
    # its own process group, as a shell gives a foreground job: the terminal's Ctrl-C goes to the whole group
    p = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "CAMSCAN_LAB": lab.instance}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 60
        while not _nmap_children(p.pid):
            assert p.poll() is None and time.monotonic() < end, "nmap never started"
            time.sleep(0.1)
        time.sleep(1)
        os.killpg(p.pid, signal.SIGINT)
        _, stderr = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, stderr[-3000:]
    inv = json.loads((out / "inventory.json").read_text())
    assert inv["scan"]["complete"] is False and inv["scan"]["stats"]["stopped_by"] == "SIGINT"
    assert not [e for e in inv["scan"]["errors"] if e["module"] == "nmap"]   # a stop, not a failed nmap
