"""Benchmark: wall time of `camscan scan` on a lab profile, median of several runs with the spread, where the
time went (the inventory's seconds.* stats), probes sent, peak memory and maker accuracy against the truth.

Run as root: .venv/bin/python bench/scan_speed.py [--profile site] [--runs 3] [--rate 2000] [--credentials]
             [--engine nmap] [--label before] [--via netns|lab-exec]
Writes bench/results/scan_speed.<profile>[.<label>].json and .md. Every packet stays inside the lab's namespaces.
The wall time is the whole command, start-up included: `ip netns exec <scanner namespace> python -m scanner scan
SUBNET` (--via netns), or wrapped in `camscan lab exec --` (--via lab-exec, the default, which adds the wrapper's
own Python start-up, about 0.3-0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scanner.evaluate import score  # noqa: E402
from scanner.lab.topology import scanner_ns  # noqa: E402

CAMSCAN = [sys.executable, "-m", "scanner"]
STAT_KEYS = ("seconds", "seconds.phase1", "seconds.phase2", "seconds.first_host", "seconds.last_result",
             "seconds.arp", "seconds.tcp", "seconds.http", "seconds.onvif", "seconds.wsd_directed",
             "seconds.nmap.sweep", "seconds.nmap.banners", "probes")


def _lab(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run([*CAMSCAN, "lab", *args], cwd=REPO, env=env, text=True, capture_output=True,
                          check=True).stdout


def one_scan(subnet: str, extra: list[str], env: dict[str, str], truth: dict[str, Any],
             via: str = "lab-exec") -> dict[str, Any]:
    """One `camscan scan` from the lab's scanner namespace: wall time, peak RSS, stats, accuracy."""
    wrap = ["ip", "netns", "exec", scanner_ns(env["CAMSCAN_LAB"])] if via == "netns" else [
        *CAMSCAN, "lab", "exec", "--"]
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        p = subprocess.run([*wrap, *CAMSCAN, "scan", subnet, "--out", tmp, "--no-store",
                            "-q", *extra], cwd=REPO, env=env, text=True, capture_output=True, timeout=1800)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if p.returncode not in (0, 1):
            raise SystemExit(f"scan failed ({p.returncode}): {p.stderr[-2000:]}")
        inv = json.loads((Path(tmp) / "inventory.json").read_text())
    sc = score(truth, inv["devices"])
    st = inv["scan"]["stats"]
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(max(peak, before) / 1024, 1) if peak > before else None,
            **{k: st.get(k) for k in STAT_KEYS}, "devices": len(inv["devices"]), "found": sc.found,
            "surveillance_devices": sc.surveillance_truth, "maker_accuracy": round(sc.rate(sc.maker_right), 4),
            "errors": len(inv["scan"]["errors"])}


def spread(xs: list[float]) -> dict[str, float]:
    """Median, min and max."""
    return {"median": round(statistics.median(xs), 2), "min": round(min(xs), 2), "max": round(max(xs), 2)}


def main() -> None:
    """Bring the profile up once, scan it --runs times, write the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="site")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=None, help="--rate for the scans (default: camscan's own)")
    ap.add_argument("--credentials", action="store_true", help="scan with examples/lab-credentials.yaml")
    ap.add_argument("--engine", choices=("native", "nmap"), default="native",
                    help="camscan's scanning engine (nmap: results named .engine-nmap)")
    ap.add_argument("--label", default="", help="suffix of the result files (e.g. before)")
    ap.add_argument("--via", choices=("netns", "lab-exec"), default="lab-exec",
                    help="run the scan with ip netns exec or inside camscan lab exec (default)")
    args = ap.parse_args()
    env = {**os.environ, "CAMSCAN_LAB": f"bspd{os.getpid()}"}
    extra: list[str] = []
    if args.rate is not None:
        extra += ["--rate", str(args.rate)]
    if args.credentials:
        extra += ["--credentials", str(REPO / "examples" / "lab-credentials.yaml")]
    if args.engine != "native":
        extra += ["--engine", args.engine]
    # byte-code compiled first, as a pip-installed camscan is: with PYTHONDONTWRITEBYTECODE set (or a module just
    # edited) every run would compile stale modules from source again (~0.2 s of start-up measured)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "scanner")], check=True)
    load = os.getloadavg()[0]
    try:
        t0 = time.perf_counter()
        _lab(["up", "--profile", args.profile, "--seed", args.seed], env)
        up_s = time.perf_counter() - t0
        truth = json.loads(_lab(["truth"], env))
        runs = [one_scan(truth["subnet"], extra, env, truth, args.via) for _ in range(args.runs)]
    finally:
        subprocess.run([*CAMSCAN, "lab", "down"], cwd=REPO, env=env, capture_output=True)
    for r in runs:
        print(json.dumps(r), flush=True)
    summary = {k: spread([float(r[k]) for r in runs if r.get(k) is not None])
               for k in ("wall_s", *STAT_KEYS, "peak_rss_mib") if any(r.get(k) is not None for r in runs)}
    result = {"benchmark": "scan_speed", "profile": args.profile, "seed": args.seed, "hosts": len(truth["devices"]),
              "options": extra, "via": args.via, "runs": runs, "summary": summary, "lab_up_s": round(up_s, 1),
              "machine": {"cpus": os.cpu_count(), "loadavg_1min_before": round(load, 2)},
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                       capture_output=True).stdout.strip(),
              # what was measured is the working tree: files differing from that commit are named
              "uncommitted": subprocess.run(["git", "status", "--porcelain", "--", "scanner", "fingerprints"],
                                            cwd=REPO, text=True, capture_output=True).stdout.split("\n")[:-1],
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    label = ".".join(x for x in ("credentials" if args.credentials else "",
                                 f"engine-{args.engine}" if args.engine != "native" else "", args.label) if x)
    stem = f"scan_speed.{args.profile}" + (f".{label}" if label else "")
    res = REPO / "bench" / "results"
    res.mkdir(exist_ok=True)
    (res / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [f"# scan_speed: `camscan scan` on the lab `{args.profile}` profile {' '.join(extra)}".rstrip(), "",
          f"{result['date']}, commit {result['commit']}"
          f"{' plus uncommitted ' + str(len(result['uncommitted'])) + ' file(s)' if result['uncommitted'] else ''}, "
          f"{args.runs} runs, {result['hosts']} hosts, "
          f"{os.cpu_count()} CPUs shared, 1-min load before: {load:.2f}, run via {args.via}. Median (min-max).", "",
          "| figure | median | min | max |", "|---|---|---|---|"]
    md += [f"| {k} | {v['median']} | {v['min']} | {v['max']} |" for k, v in summary.items()]
    acc = [r["maker_accuracy"] for r in runs]
    md += ["", f"Maker accuracy per run: {acc}; surveillance devices found: {[r['found'] for r in runs]}."]
    (res / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
