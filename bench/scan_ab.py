"""Benchmark: two commits' `camscan scan` on one lab, interleaved run by run, so both see the same machine load.

Run as root: .venv/bin/python bench/scan_ab.py BEFORE AFTER [--profile site] [--rounds 3] [--credentials]
             [--also-without] [--label NAME]
Each commit is exported with `git archive` into a temporary folder (the working tree, with other sessions'
unfinished edits, is never measured) and scanned from there with this venv's Python; the lab is brought up
once from AFTER's tree. Per run: wall time of `camscan lab exec -- python -m scanner scan SUBNET`, the scan
process tree's CPU seconds, the inventory's seconds.* stats, the 1-min load, maker accuracy. Writes
bench/results/scan_ab.<profile>[.<label>].json and .md. Every packet stays inside the lab's namespaces.
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
STATS = ("seconds", "seconds.http", "seconds.onvif", "seconds.snmp", "onvif.requests", "snmp.requests", "probes")


def export(commit: str, into: Path) -> str:
    """The commit's files in into/<commit>; its full hash."""
    full = subprocess.run(["git", "rev-parse", commit], cwd=REPO, text=True, capture_output=True,
                          check=True).stdout.strip()
    dest = into / full[:10]
    dest.mkdir()
    archive = subprocess.run(["git", "archive", full], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return full


def one(tree: Path, subnet: str, extra: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One scan from tree's sources: wall, CPU, stats, the inventory's devices."""
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "scanner", "lab", "exec", "--", sys.executable, "-m", "scanner",
                            "scan", subnet, "--out", tmp, "--no-store", "-q", *extra], cwd=tree, env=env, text=True,
                           capture_output=True, timeout=600)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode not in (0, 1):
            raise SystemExit(f"scan failed ({p.returncode}): {p.stderr[-2000:]}")
        inv = json.loads((Path(tmp) / "inventory.json").read_text())
    st = inv["scan"]["stats"]
    return {"load1": round(load, 2), "wall_s": round(wall, 2),
            "cpu_s": round(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime, 2),
            **{k: st.get(k) for k in STATS}, "devices": inv["devices"]}


def main() -> None:
    """Export both commits, bring the lab up once, scan round-robin, write the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--profile", default="site")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--credentials", action="store_true", help="scan with examples/lab-credentials.yaml")
    ap.add_argument("--also-without", action="store_true", help="also scan AFTER without credentials")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    env = {**os.environ, "CAMSCAN_LAB": f"bab{os.getpid()}", "PYTHONPATH": ""}
    with tempfile.TemporaryDirectory() as work:
        trees = {name: export(c, Path(work)) for name, c in (("before", args.before), ("after", args.after))}
        paths = {name: Path(work) / full[:10] for name, full in trees.items()}
        creds = ["--credentials", str(REPO / "examples" / "lab-credentials.yaml")] if args.credentials else []
        configs = [("before", paths["before"], creds), ("after", paths["after"], creds)]
        if args.also_without and creds:
            configs.append(("after_without_credentials", paths["after"], []))
        lab_tree = paths["after"]

        def lab(*a: str) -> str:
            return subprocess.run([sys.executable, "-m", "scanner", "lab", *a], cwd=lab_tree, env=env, text=True,
                                  capture_output=True, check=True).stdout

        sys.path.insert(0, str(lab_tree))
        from scanner.evaluate import score
        runs: list[dict[str, Any]] = []
        try:
            lab("up", "--profile", args.profile, "--seed", args.seed)
            truth = json.loads(lab("truth"))
            for r in range(args.rounds):
                for name, tree, extra in configs:
                    row = one(tree, truth["subnet"], extra, env)
                    devices = row.pop("devices")
                    sc = score(truth, devices)
                    row.update(config=name, round=r, found=sc.found, maker_accuracy=round(sc.rate(sc.maker_right), 4),
                               channels=sum(len(d.get("channels") or []) for d in devices))
                    runs.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            subprocess.run([sys.executable, "-m", "scanner", "lab", "down"], cwd=lab_tree, env=env,
                           capture_output=True)
    summary = {name: {k: {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
                      for k in ("wall_s", "cpu_s", *STATS, "load1")
                      if (vals := [float(x[k]) for x in runs if x["config"] == name and x.get(k) is not None])}
               for name, _, _ in configs}
    result = {"benchmark": "scan_ab", "profile": args.profile, "seed": args.seed, "commits": trees,
              "options": creds, "runs": runs, "summary": summary, "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    stem = f"scan_ab.{args.profile}" + (f".{args.label}" if args.label else "")
    (REPO / "bench" / "results" / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [f"# scan_ab: `camscan scan` on the lab `{args.profile}` profile {' '.join(creds)}".rstrip(), "",
          f"{result['date']}, before {trees['before'][:10]}, after {trees['after'][:10]}, {args.rounds} rounds "
          f"interleaved, {os.cpu_count()} CPUs shared. Median (min-max).", "",
          "| figure | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
    for k in ("wall_s", "cpu_s", *STATS, "load1"):
        cells = [f"{s[k]['median']:g} ({s[k]['min']:g}-{s[k]['max']:g})" if k in s else "-" for s in summary.values()]
        md.append(f"| {k} | " + " | ".join(cells) + " |")
    md += ["", "Maker accuracy per run: " + ", ".join(f"{x['config']} {x['maker_accuracy']}" for x in runs) + "."]
    (REPO / "bench" / "results" / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
