"""Benchmark: the lab's `hostile` profile (every attack of issue 10 beside the normal small site): wall time,
peak memory, error entries and accuracy on the non-hostile devices. Needs root (network namespaces).

Run: sudo .venv/bin/python bench/hostile.py  (writes bench/results/hostile.json)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scanner.evaluate import score

ROOT = Path(__file__).resolve().parents[1]
CAMSCAN = [sys.executable, "-m", "scanner"]


def main() -> None:
    env = {**os.environ, "CAMSCAN_LAB": f"bhostile{os.getpid()}"}
    res: dict[str, object] = {"profile": "hostile"}
    try:
        subprocess.run([*CAMSCAN, "lab", "up", "--profile", "hostile"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        truth = json.loads(subprocess.run([*CAMSCAN, "lab", "truth"], cwd=ROOT, env=env, check=True,
                                          capture_output=True, text=True).stdout)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            p = subprocess.run([*CAMSCAN, "lab", "exec", "--", *CAMSCAN, "scan", truth["subnet"], "--out", d,
                                "--no-store"], cwd=ROOT, env=env, capture_output=True, text=True)
            secs = time.perf_counter() - t
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            inv_path = Path(d) / "inventory.json"
            inv = json.loads(inv_path.read_text())
            sc = score(truth, inv["devices"])
            res.update({
                "exit_status": p.returncode, "hosts": len(truth["devices"]),
                "hostile_hosts": sum(1 for x in truth["devices"] if x["hostile"]),
                "seconds": round(secs, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
                "error_entries": len(inv["scan"]["errors"]), "inventory_bytes": inv_path.stat().st_size,
                "non_hostile": sc.as_dict(), "stats_seconds_per_module": {
                    k: v for k, v in inv["scan"]["stats"].items() if k.startswith("seconds.")},
            })
    finally:
        subprocess.run([*CAMSCAN, "lab", "down"], cwd=ROOT, env=env, capture_output=True)
    out = ROOT / "bench" / "results" / "hostile.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
