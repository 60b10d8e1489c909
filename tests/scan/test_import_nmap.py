"""`camscan import-nmap` identifies devices from an existing nmap XML scan, sending nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.inventory.schema import valid_inventory

FIX = Path(__file__).resolve().parents[1] / "discovery" / "fixtures_host" / "nmap" / "service_scan.xml"


def test_import_nmap_writes_an_inventory(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "scanner", "import-nmap", str(FIX), "--out", str(tmp_path),
                        "--format", "json,csv"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    inv = valid_inventory(tmp_path / "inventory.json")
    assert inv["schema"] == "camscan.inventory/1"
    dev = {d["ip"]: d for d in inv["devices"]}["198.18.37.2"]
    # the recorded test device mixes a Hikvision web server with a Dahua RTSP server: both facts are
    # kept as evidence and the stronger one names the maker
    rules = {e["rule"] for e in dev["evidence"]}
    assert {"hikvision.http.server.app-webs", "dahua.rtsp.server", "oui.hikvision"} <= rules
    assert dev["vendor"] in {"hikvision", "dahua"} and dev["mac"] == "44:19:b6:00:00:37"
    assert dev["discovered_by"] == ["nmap"]
    assert dev["open_ports"] == [22, 80, 554]   # the ports nmap reported open (8000 was closed)
    assert "198.18.37.2" in (tmp_path / "inventory.csv").read_text()


def test_import_nmap_refuses_a_file_that_is_not_nmap_xml(tmp_path: Path) -> None:
    bad = tmp_path / "scan.xml"
    bad.write_text("<html>not nmap</html>")
    p = subprocess.run([sys.executable, "-m", "scanner", "import-nmap", str(bad), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "not an nmap XML scan" in p.stderr
    assert not (tmp_path / "o").exists()
