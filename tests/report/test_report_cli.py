"""`camscan report`: readable reports of recorded scans or inventory files, every format, refused input leaves
nothing behind (issue 9)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl

from scanner.inventory.serialise import to_dict, to_json
from tests.report.test_survey import DEPOT, HQ

REPO = Path(__file__).resolve().parents[2]


def camscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, cwd=REPO,
                          env=env)


def test_one_inventory_gives_every_format_with_the_same_devices(tmp_path: Path) -> None:
    src = tmp_path / "hq.json"
    src.write_text(to_json(HQ))
    out = tmp_path / "r"
    p = camscan("report", str(src), "--format", "html,xlsx,csv,md,json", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["inventory.csv", "inventory.html", "inventory.json",
                                                     "inventory.md", "inventory.xlsx"]
    assert json.loads((out / "inventory.json").read_text()) == to_dict(HQ)
    ips = [d.ip for d in HQ.devices]
    assert [r["ip"] for r in csv.DictReader(io.StringIO((out / "inventory.csv").read_text()))] == ips
    ws = openpyxl.load_workbook(out / "inventory.xlsx")["Devices"]
    assert [r[0] for r in ws.iter_rows(min_row=2, values_only=True)] == ips
    page = (out / "inventory.html").read_text()
    assert all(f'data-ip="{ip}"' in page for ip in ips)
    assert (out / "inventory.html").stat().st_mode & 0o777 == 0o600


def test_several_inventories_go_to_one_folder_each(tmp_path: Path) -> None:
    files = []
    for inv in (HQ, DEPOT):
        f = tmp_path / f"{inv.site.name}.json"
        f.write_text(to_json(inv))
        files.append(str(f))
    p = camscan("report", *files, "--format", "md", "-o", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in (tmp_path / "r").iterdir()) == ["Depot", "HQ"]
    assert "Depot" in (tmp_path / "r" / "Depot" / "inventory.md").read_text()


def test_a_recorded_scan_by_id(tmp_path: Path) -> None:
    from scanner.store import open_store

    db = str(tmp_path / "s.db")
    with open_store(db) as store:
        scan_id = store.begin_scan("HQ", HQ.scan.started)
        doc = to_dict(HQ)
        store.add_devices(scan_id, doc["devices"])
        store.finish_scan(scan_id, "HQ", doc)
    p = camscan("report", scan_id, "--db", db, "--format", "json", "-o", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "r" / "inventory.json").read_text()) == doc


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    good = tmp_path / "hq.json"
    good.write_text(to_json(HQ))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "camscan.inventory/1"}')
    for args, message in (([str(good), str(bad)], "not a camscan inventory"),
                          ([str(good), "no-such-thing"], "no such file, and not a scan id"),
                          ([str(good), "--format", "pdf"], "unknown format")):
        out = tmp_path / "r"
        p = camscan("report", *args, "-o", str(out))
        assert p.returncode == 2 and message in p.stderr, p.stderr
        assert not out.exists()
