"""Two real lab scans with the site changed between them: the diff says exactly what the lab's truth says."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.inventory.schema import valid_inventory
from tests.lab.conftest import REPO, running_lab

pytestmark = pytest.mark.lab
CREDS = str(REPO / "examples" / "lab-credentials.yaml")


def _scan(lab, db: str, out: Path) -> str:  # type: ignore[no-untyped-def]
    p = lab.exec(sys.executable, "-m", "scanner", "scan", lab.truth()["subnet"], "--out", str(out), "--db", db,
                 "--credentials", CREDS, timeout=300)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("recorded as scan ")]
    assert line, p.stdout + p.stderr
    return line[0].rsplit(" ", 1)[1]


def test_diff_after_add_remove_reflash_and_move_matches_the_truth(tmp_path: Path) -> None:
    db = str(tmp_path / "history.db")
    with running_lab("hist", "--profile", "small", "--seed", "5") as lab:
        before = {d["ip"]: d for d in lab.truth()["devices"]}
        first = _scan(lab, db, tmp_path / "a")
        lines = lab.camscan("lab", "mutate", "--add", "2", "--remove", "1", "--reflash", "2", "--move", "1").stdout
        after = {d["ip"]: d for d in lab.truth()["devices"]}
        second = _scan(lab, db, tmp_path / "b")
        same = lab.camscan("diff", second, second, "--db", db, check=False)
        got = lab.camscan("diff", first, second, "--db", db, "--format", "json", check=False)
    assert same.returncode == 0, same.stderr
    assert got.returncode == 1, got.stderr
    d = json.loads(got.stdout)
    changes = lines.splitlines()
    moved = {ln.split()[1]: ln.split()[3] for ln in changes if ln.startswith("moved ")}
    reflashed = {ln.split()[1] for ln in changes if ln.startswith("reflashed ")}
    removed = {ln.split()[1] for ln in changes if ln.startswith("removed ")}
    added = {ln.split()[1] for ln in changes if ln.startswith("added ")}
    assert len(moved) == 1 and len(reflashed) == 2 and len(removed) == 1 and len(added) == 2, lines
    report = json.dumps(d, indent=1)[:4000]
    assert {x["ip"] for x in d["added"]} == added, report
    assert {x["ip"] for x in d["removed"]} == removed, report
    by_ip = {c["device"]["ip"]: c for c in d["changed"]}
    (old_ip, new_ip), = moved.items()
    assert by_ip[new_ip]["matched_by"] == "mac", report
    assert by_ip[new_ip]["changes"]["ip"] == {"old": old_ip, "new": new_ip}, report
    assert by_ip[new_ip]["device"]["mac"] == before[old_ip]["mac"] == after[new_ip]["mac"]
    seen = {x["ip"]: x for x in valid_inventory(tmp_path / "a" / "inventory.json")["devices"]}
    shown = {ip for ip in reflashed if seen.get(ip, {}).get("firmware") == before[ip]["firmware"]}
    assert shown, f"no reflashed device showed its firmware on the wire: {lines}"
    for ip in shown:   # the lab's truth firmware changed; the diff says so with the same values
        assert by_ip[ip]["changes"]["firmware"] == {"old": before[ip]["firmware"], "new": after[ip]["firmware"]}, \
            report
    assert set(by_ip) == shown | {new_ip}, report   # nothing else changed (a firmware nobody reads cannot)
    # the operator's password never reaches the store
    assert b"camscan-lab" not in Path(db).read_bytes()
    for extra in Path(db).parent.glob("history.db-*"):
        assert b"camscan-lab" not in extra.read_bytes()
