"""Benchmark: kernel cost of one ARP who-has on a lab link: a bare blocking send() loop of prebuilt broadcast frames
(no rate limit, no event loop), run inside a lab's scanner namespace; frames/s and user/sys CPU per frame.

Run as root, with a lab up (`CAMSCAN_LAB=x camscan lab up --profile sparse16 [--no-arp-filter]`):
    CAMSCAN_LAB=x .venv/bin/python bench/arp_flood.py [--count 5000] [--json]
It re-runs itself under `camscan lab exec`, so every frame leaves from the scanner's own interface and stays in the
lab. Targets are the subnet's addresses in order from .2 (on sparse16 nearly all unused), as a sweep asks them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scanner.discovery import arp  # noqa: E402
from scanner.lab import topology  # noqa: E402


def measure(count: int) -> dict[str, float | int | str]:
    """Send COUNT who-has frames from the scanner interface of this namespace; what it cost."""
    ((iface, own_ip, net),) = [lk for lk in arp.local_links() if lk[0] == topology.HOST_IF]
    src = arp._hwaddr(iface)
    base = int(net.network_address) + 2
    frames = [arp.build_probe(src, own_ip, str(ipaddress.IPv4Address(base + i % (net.num_addresses - 3))))
              for i in range(count)]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((iface, 0))
    unsent = 0
    t0, c0 = time.perf_counter(), os.times()
    for f in frames:
        try:
            sock.send(f)
        except OSError:   # ENOBUFS: counted, not retried (the figure is the kernel's cost per send)
            unsent += 1
    wall, c1 = time.perf_counter() - t0, os.times()
    sock.close()
    user, sys_ = c1.user - c0.user, c1.system - c0.system
    return {"frames": count, "unsent": unsent, "wall_s": round(wall, 3), "frames_per_s": round(count / wall),
            "user_us_per_frame": round(user / count * 1e6, 1), "sys_us_per_frame": round(sys_ * 1e6 / count, 1),
            "subnet": str(net)}


def main() -> None:
    """Parse options; outside the lab, re-run inside its scanner namespace."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--json", action="store_true", help="one JSON line instead of text")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inside:
        cmd = [sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, __file__, "--inside",
               "--count", str(args.count)] + (["--json"] if args.json else [])
        load = os.getloadavg()[0]
        p = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True)
        if p.returncode:
            raise SystemExit(p.stderr.strip()[-2000:])
        out = p.stdout.strip()
        if args.json:
            print(json.dumps({**json.loads(out), "loadavg_1min_before": round(load, 2),
                              "lab": os.environ.get("CAMSCAN_LAB", "lab")}))
        else:
            print(f"{out} (1-min load before: {load:.2f})")
        return
    r = measure(args.count)
    print(json.dumps(r) if args.json else
          f"{r['frames']} frames on {r['subnet']} in {r['wall_s']} s: {r['frames_per_s']} frames/s, "
          f"{r['user_us_per_frame']} us user + {r['sys_us_per_frame']} us sys per frame, {r['unsent']} unsent")


if __name__ == "__main__":
    main()
