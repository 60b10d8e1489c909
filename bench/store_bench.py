"""Benchmark: the scan history store (SQLite) - writing a site's scan, and history/diff on a long history.

Run: .venv/bin/python bench/store_bench.py  (writes bench/results/store.json)
A 250-device site inventory is built by the real builder from synthetic observations (cameras, recorders
and IT hosts); 1,000 scans of it are recorded (a few devices change between scans), then the commands
`camscan history` and `camscan diff` are timed as a user runs them (fresh processes, best of five).
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scanner.inventory.build import build, site_info
from scanner.inventory.records import ScanInfo
from scanner.inventory.serialise import to_dict
from scanner.match.engine import get_engine
from scanner.models import Observation
from scanner.store import open_store

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = [("http.server", "App-webs/"), ("snmp.sysdescr", "DH-NVR4108HS-8P-4KS2"),
           ("http.title", "AXIS P3245-LVE Network Camera"), ("http.server", "nginx/1.18.0")]


def site_inventory(rng: random.Random, n: int = 250, firmware_bump: int = 0) -> dict[str, Any]:
    obs = []
    for i in range(n):
        ip = f"10.{20 + i // 250}.{(i % 250) // 250}.{i % 250 + 1}"
        mac = f"44:19:b6:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        obs.append(Observation("mac", mac, ip=ip, source="arp"))
        s, v = SIGNALS[i % len(SIGNALS)]
        obs.append(Observation(s, v, ip=ip, source="bench"))
        obs.append(Observation("onvif.firmware", f"V5.{(i + firmware_bump) % 7}.0", ip=ip, source="bench"))
        obs.append(Observation("tcp.port", "80", ip=ip, port=80, source="tcp"))
    info = ScanInfo(started="2026-12-07T01:00:00+00:00", finished="2026-12-07T01:00:09+00:00",
                    targets=("10.20.0.0/24",), excluded=(), modules=("arp", "http"), privileged=True,
                    tool_version="0.1.0", fingerprints_version=get_engine().db.version)
    return to_dict(build(obs, get_engine(), info, site_info("Bench", "Bench", [("10.20.0.0/24", "internal", None)])))


def record(url: str, doc: dict[str, Any], started: str) -> float:
    t = time.perf_counter()
    store = open_store(url)
    sid = store.begin_scan("Bench", started)
    store.add_devices(sid, doc["devices"])
    store.finish_scan(sid, "Bench", {**doc, "scan": {**doc["scan"], "started": started}})
    store.close()
    return time.perf_counter() - t


def command(*args: str, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, env=env, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
        assert p.returncode in (0, 1), p.stderr
    return best


def main() -> None:
    rng = random.Random(3)
    base = site_inventory(rng)
    with tempfile.TemporaryDirectory() as d:
        url = str(Path(d) / "bench.db")
        writes = []
        for k in range(1000):
            doc = base if k % 50 else site_inventory(rng, firmware_bump=k)   # now and then firmware changes
            started = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=k)).isoformat(timespec="seconds")
            writes.append(record(url, doc, started))   # one scan an hour
        env = {**os.environ, "CAMSCAN_DB": url}
        hist = command("history", "--site", "Bench", "--format", "json", env=env)
        diff = command("diff", "--site", "Bench", "--format", "json", env=env)
        noop = command("--version", env=env)
        size = Path(url).stat().st_size
    res = {
        "python": platform.python_version(), "machine": platform.machine(), "backend": "sqlite",
        "devices_per_scan": len(base["devices"]), "scans": len(writes),
        "write_one_scan_seconds_median": round(sorted(writes)[len(writes) // 2], 4),
        "write_one_scan_seconds_max": round(max(writes), 4),
        "history_command_seconds": round(hist, 3), "diff_command_seconds": round(diff, 3),
        "python_startup_seconds (camscan --version)": round(noop, 3), "store_bytes": size,
    }
    out = ROOT / "bench" / "results" / "store.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
