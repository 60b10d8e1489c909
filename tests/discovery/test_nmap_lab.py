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
from collections.abc import Callable, Iterator
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


def _stop_while_nmap_runs(lab: Lab, out: Path, stop: Callable[[subprocess.Popen[str]], None], *,
                          own_group: bool = False) -> tuple[int, str, list[int]]:
    """Start an nmap-engine scan slow enough that nmap's sweep runs for minutes, stop it with stop(process) once
    nmap runs; (exit status, stderr, nmap's pids)."""
    cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner", "scan",
           lab.truth()["subnet"], "--engine", "nmap", "--rate", "20", "--no-store", "-q", "-o", str(out)]
    p = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "CAMSCAN_LAB": lab.instance}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=own_group)
    try:
        end = time.monotonic() + 60
        while not (children := _nmap_children(p.pid)):
            assert p.poll() is None and time.monotonic() < end, "nmap never started"
            time.sleep(0.1)
        time.sleep(1)
        stop(p)
        _, stderr = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, stderr, children


def test_sigterm_ends_nmap_and_writes_an_incomplete_inventory(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # `lab exec` execs into camscan: this pid is nmap's parent
    code, stderr, children = _stop_while_nmap_runs(lab, out, lambda p: p.send_signal(signal.SIGTERM))
    assert code == 143, stderr[-3000:]
    assert not [c for c in children if Path(f"/proc/{c}").exists()]   # nmap ended with the scan
    inv = json.loads((out / "inventory.json").read_text())
    assert inv["scan"]["complete"] is False and inv["scan"]["stats"]["stopped_by"] == "SIGTERM"


def test_ctrl_c_to_the_process_group_stops_the_scan_without_an_nmap_error(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # its own process group, as a shell gives a foreground job: the terminal's Ctrl-C goes to the whole group
    code, stderr, _ = _stop_while_nmap_runs(lab, out, lambda p: os.killpg(p.pid, signal.SIGINT), own_group=True)
    assert code == 130, stderr[-3000:]
    inv = json.loads((out / "inventory.json").read_text())
    assert inv["scan"]["complete"] is False and inv["scan"]["stats"]["stopped_by"] == "SIGINT"
    assert not [e for e in inv["scan"]["errors"] if e["module"] == "nmap"]   # a stop, not a failed nmap
