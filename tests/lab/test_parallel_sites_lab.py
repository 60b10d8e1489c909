"""`camscan scan --site ... --parallel N` on the lab: sites scanned at once into one SQLite store are the same scans
one after another gives (each recorded, each only its own ranges), a SIGTERM stops every running site and starts
no more, and a site whose scan fails is that site's error while the others are recorded."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scanner.store import open_store
from tests.inventory.schema import valid_inventory
from tests.lab.conftest import PRIVILEGED, REPO, Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not PRIVILEGED:
        pytest.skip("needs root")
    lab = Lab(f"hpar{uuid.uuid4().hex[:6]}")
    try:
        lab.camscan("lab", "up", "--profile", "small", "--seed", "7")
        yield lab
    finally:
        lab.down()


def _sites(tmp_path: Path, subnet: str, names: tuple[str, ...] = ("North", "South")) -> dict[str, list[str]]:
    """Site files splitting the lab's /24 between the names, each two quarters apart (North: 1st and 3rd)."""
    q = [str(n) for n in ipaddress.ip_network(subnet).subnets(new_prefix=26)]
    split = {names[0]: [q[0], q[2]], names[1]: [q[1], q[3]]} if len(names) == 2 else \
        {n: [q[i]] for i, n in enumerate(names)}
    for name, ranges in split.items():
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\nranges:\n" + "".join(f"  - {r}\n" for r in ranges))
    return split


def _scan(lab: Lab, tmp_path: Path, names: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    sites = [a for n in names for a in ("--site", str(tmp_path / f"{n}.yaml"))]
    return lab.exec(sys.executable, "-m", "scanner", "scan", *sites, *args, check=False, timeout=300)


def _devices(inv: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(d["ip"], d.get("mac"), d.get("vendor"), d["category"]) for d in inv["devices"]}


def test_sites_scanned_at_once_are_the_scans_one_after_another_gives(lab: Lab, tmp_path: Path) -> None:
    truth = lab.truth()
    split = _sites(tmp_path, truth["subnet"])
    skip = min(d["ip"] for d in truth["devices"] if not d.get("hidden"))     # a live device --exclude keeps out
    runs: dict[str, dict[str, Any]] = {}
    for mode, extra in (("parallel", ["--parallel", "2"]), ("sequential", [])):
        db, out = tmp_path / f"{mode}.db", tmp_path / mode
        p = _scan(lab, tmp_path, ["North", "South"], "--db", str(db), "-o", str(out), "--json", "--format",
                  "json,csv", "--exclude", skip, *extra)
        assert p.returncode == 0, p.stderr[-3000:]
        docs = json.loads(p.stdout)
        assert [d["site"] for d in docs] == ["North", "South"] and all(d["complete"] for d in docs)
        invs = {n: valid_inventory(out / n / "inventory.json") for n in ("North", "South")}
        assert all((out / n / "inventory.csv").exists() for n in invs)
        runs[mode] = {"docs": docs, "invs": invs, "db": db}
    par = runs["parallel"]
    st = open_store(str(par["db"]))
    try:
        rows = st.history()
        # both sites' scans were recorded in the one store while both ran, complete, with all their devices
        assert sorted((r.site, r.complete) for r in rows) == [("North", True), ("South", True)]
        for r in rows:
            assert len(st.devices(r.id)) == len(par["invs"][r.site]["devices"]) == r.devices
        assert {d["scan_id"] for d in par["docs"]} == {r.id for r in rows}
    finally:
        st.close()
    for name, ranges in split.items():
        inv = par["invs"][name]
        nets = [ipaddress.ip_network(r) for r in ranges]
        assert inv["devices"] and all(any(ipaddress.ip_address(d["ip"]) in n for n in nets) for d in inv["devices"])
        assert skip not in {d["ip"] for d in inv["devices"]}
        assert _devices(inv) == _devices(runs["sequential"]["invs"][name])
    keys = ("site", "hosts", "surveillance", "by_category", "complete", "exit_code")
    seq = runs["sequential"]["docs"]
    assert [{k: d[k] for k in keys} for d in par["docs"]] == [{k: d[k] for k in keys} for d in seq]


def _wait_for_scans(db: Path, n: int, p: subprocess.Popen[str], timeout: float) -> None:
    """Until n scans are filed in the store (each child files its scan once its signal handling is in place)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert p.poll() is None, "the run ended before it could be stopped"
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    if con.execute("SELECT count(*) FROM scans").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"{n} scans never started")


def test_sigterm_stops_every_running_site_and_starts_no_more(lab: Lab, tmp_path: Path) -> None:
    _sites(tmp_path, lab.truth()["subnet"], ("A", "B", "C"))
    db, out = tmp_path / "t.db", tmp_path / "out"
    # a slow rate keeps both sweeps busy long after the signal comes
    cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner", "scan",
           *[a for n in "ABC" for a in ("--site", str(tmp_path / f"{n}.yaml"))], "--parallel", "2", "--rate", "50",
           "--db", str(db), "-o", str(out), "--json"]
    p = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "CAMSCAN_LAB": lab.instance}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_scans(db, 2, p, 60)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)   # `lab exec` execs into camscan: this pid is the parent of the site scans
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, stderr[-3000:]
    docs = json.loads(stdout)
    assert [(d["site"], d["complete"], d["stopped_by"], d["exit_code"]) for d in docs] == \
        [("A", False, "SIGTERM", 143), ("B", False, "SIGTERM", 143)]
    for name in ("A", "B"):
        inv = valid_inventory(out / name / "inventory.json")
        assert inv["scan"]["complete"] is False and inv["scan"]["stats"]["stopped_by"] == "SIGTERM"
    assert not (out / "C").exists()           # the third site was never started
    st = open_store(str(db))
    try:
        assert sorted((r.site, r.complete) for r in st.history()) == [("A", False), ("B", False)]
    finally:
        st.close()


@pytest.mark.parametrize("mode", [["--parallel", "2"], []], ids=["parallel", "one-after-another"])
def test_a_site_whose_scan_fails_is_its_error_and_the_other_is_recorded(lab: Lab, tmp_path: Path,
                                                                         mode: list[str]) -> None:
    _sites(tmp_path, lab.truth()["subnet"])
    db, out = tmp_path / "f.db", tmp_path / "out"
    holder = open_store(str(db))
    holder.begin_scan("South", datetime.now(UTC).isoformat(timespec="seconds"))   # "South" is being scanned now
    try:
        p = _scan(lab, tmp_path, ["North", "South"], *mode, "--db", str(db), "-o", str(out), "--json")
    finally:
        holder.close()
    assert p.returncode == 2, p.stderr[-3000:]
    assert "site South: scan failed (exit 2)" in p.stderr and "already running" in p.stderr
    docs = json.loads(p.stdout)
    assert [(d["site"], d["complete"]) for d in docs] == [("North", True)]
    st = open_store(str(db))
    try:
        north = [r for r in st.history() if r.site == "North"]
        assert len(north) == 1 and north[0].complete and north[0].devices > 0
    finally:
        st.close()
