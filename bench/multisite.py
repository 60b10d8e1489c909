"""Benchmark: two sites in one `camscan scan` command, one after another vs `--parallel 2`.

The lab profile's /24 is split into two site files (the lower and the upper /25); each run scans both from the
lab's scanner namespace with `camscan scan --site lower.yaml --site upper.yaml [--parallel 2]`, the whole command
timed (start-up included). Runs alternate sequential/parallel so drift in the machine's load hits both alike.
Reported: wall time median of --runs with the spread, the CPU seconds the command used (user+sys of all its
processes) and the lab daemon used meanwhile (the one process answering for every simulated host), the share of
the machine's CPU time busy during the run (everyone's work, other users' included), each site's own scan
seconds, and maker accuracy against the lab's truth; the device sets of the two modes are compared.

Run as root, under the bench lock: flock /tmp/camscan-bench.lock .venv/bin/python bench/multisite.py
             [--profile site] [--runs 3] [--parallel 2] [--rate PPS --label rateN]
Writes bench/results/multisite.json and .md. Every packet stays inside the lab's namespaces.
"""

from __future__ import annotations

import argparse
import ipaddress
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

CAMSCAN = [sys.executable, "-m", "scanner"]
SITES = ("Lower", "Upper")


def _lab(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run([*CAMSCAN, "lab", *args], cwd=REPO, env=env, text=True, capture_output=True,
                          check=True).stdout


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _daemon_pid(instance: str) -> int | None:
    """The lab daemon serving every simulated host of the instance (one asyncio process)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"scanner.lab.daemon" in argv and instance.encode() in argv:
                return int(d.name)
    return None


def _cpu_of(pid: int | None) -> float:
    """user+sys seconds the process has used (0 if unknown)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(all, idle+iowait) jiffies of every CPU since boot, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(v), v[3] + v[4]


def one_run(sites: list[Path], parallel: int, env: dict[str, str], truth: dict[str, Any],
            daemon: int | None) -> dict[str, Any]:
    """One two-site command: wall and CPU seconds (camscan's, the lab daemon's), each site's scan seconds,
    accuracy, the devices found."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, lab0, m0 = _cpu_children(), _cpu_of(daemon), _machine()
        t0 = time.perf_counter()
        p = subprocess.run([*CAMSCAN, "lab", "exec", "--", *CAMSCAN, "scan", *[a for s in sites for a in
                            ("--site", str(s))], "--parallel", str(parallel), "--out", tmp, "--no-store", "-q",
                            "--json"], cwd=REPO, env=env, text=True, capture_output=True, timeout=1800)
        wall = time.perf_counter() - t0
        cpu, lab_cpu, m1 = _cpu_children() - cpu0, _cpu_of(daemon) - lab0, _machine()
        busy = 1 - (m1[1] - m0[1]) / max(1, m1[0] - m0[0])
        if p.returncode != 0:
            raise SystemExit(f"scan failed ({p.returncode}): {p.stderr[-2000:]}")
        docs = json.loads(p.stdout)
        invs = [json.loads((Path(tmp) / name / "inventory.json").read_text()) for name in SITES]
    devices = [d for inv in invs for d in inv["devices"]]
    sc = score(truth, devices)
    return {"parallel": parallel, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "lab_daemon_cpu_s": round(lab_cpu, 2), "machine_busy": round(busy, 2),
            "site_seconds": {d["site"]: d["seconds"] for d in docs}, "devices": len(devices),
            "found": sc.found, "surveillance_devices": sc.surveillance_truth,
            "maker_accuracy": round(sc.rate(sc.maker_right), 4),
            "device_set": sorted(f"{d['ip']} {d.get('mac')} {d.get('vendor')} {d['category']}" for d in devices)}


def spread(xs: list[float]) -> dict[str, float]:
    """Median, min and max."""
    return {"median": round(statistics.median(xs), 2), "min": round(min(xs), 2), "max": round(max(xs), 2)}


def main() -> None:
    """Bring the profile up once, run both modes --runs times (alternating), write the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="site")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--rate", type=float, default=None, help="each site file's rate: (default: camscan's own)")
    ap.add_argument("--label", default="", help="suffix of the result files (e.g. rate500)")
    args = ap.parse_args()
    env = {**os.environ, "CAMSCAN_LAB": f"hparb{os.getpid() % 10000}"}
    load = os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as sdir:
        try:
            _lab(["up", "--profile", args.profile, "--seed", args.seed], env)
            truth = json.loads(_lab(["truth"], env))
            daemon = _daemon_pid(env["CAMSCAN_LAB"])
            halves = list(ipaddress.ip_network(truth["subnet"]).subnets(prefixlen_diff=1))
            sites = []
            for name, net in zip(SITES, halves, strict=True):
                f = Path(sdir) / f"{name.lower()}.yaml"
                f.write_text(f"name: {name}\nranges:\n  - cidr: {net}\n"
                             + (f"rate: {args.rate:g}\n" if args.rate is not None else ""))
                sites.append(f)
            for _ in range(args.runs):
                for par in (1, args.parallel):
                    runs.append(one_run(sites, par, env, truth, daemon))
                    print(json.dumps({k: v for k, v in runs[-1].items() if k != "device_set"}), flush=True)
        finally:
            subprocess.run([*CAMSCAN, "lab", "down"], cwd=REPO, env=env, capture_output=True)
    modes = {"sequential": [r for r in runs if r["parallel"] == 1],
             f"parallel {args.parallel}": [r for r in runs if r["parallel"] != 1]}
    sets = {tuple(r["device_set"]) for r in runs}
    summary = {m: {"wall_s": spread([r["wall_s"] for r in rs]), "cpu_s": spread([r["cpu_s"] for r in rs]),
                   "lab_daemon_cpu_s": spread([r["lab_daemon_cpu_s"] for r in rs]),
                   "machine_busy": spread([r["machine_busy"] for r in rs]),
                   **{f"seconds.{s}": spread([r["site_seconds"][s] for r in rs]) for s in SITES},
                   "maker_accuracy": [r["maker_accuracy"] for r in rs], "found": [r["found"] for r in rs]}
               for m, rs in modes.items()}
    seq, par = (summary[m]["wall_s"]["median"] for m in modes)
    result = {"benchmark": "multisite", "profile": args.profile, "seed": args.seed, "site_rate": args.rate,
              "hosts": len(truth["devices"]),
              "sites": {n: str(h) for n, h in zip(SITES, halves, strict=True)}, "runs": [
                  {k: v for k, v in r.items() if k != "device_set"} for r in runs],
              "summary": summary, "speedup": round(seq / par, 2), "same_devices_every_run": len(sets) == 1,
              "machine": {"cpus": os.cpu_count(), "loadavg_1min_before": round(load, 2)},
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                       capture_output=True).stdout.strip(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    res = REPO / "bench" / "results"
    res.mkdir(exist_ok=True)
    stem = "multisite" + (f".{args.label}" if args.label else "")
    (res / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [f"# multisite: two sites in one `camscan scan`, one after another vs `--parallel {args.parallel}`", "",
          f"{result['date']}, commit {result['commit']}, lab `{args.profile}` (seed {args.seed}, {result['hosts']} "
          f"hosts) split into {', '.join(f'{n} {h}' for n, h in result['sites'].items())}"
          + (f", each site file with `rate: {args.rate:g}`" if args.rate is not None else "")
          + f"; {args.runs} runs of each, alternating; {os.cpu_count()} CPUs shared, 1-min load before: "
          f"{load:.2f}. Whole command from the lab's scanner namespace (`camscan lab exec -- python -m scanner scan "
          "--site ... --site ... -q --json --no-store`). Median (min-max).", "",
          "| mode | wall s | camscan CPU s | lab daemon CPU s | both CPUs busy | "
          + " | ".join(f"{s} scan s" for s in SITES) + " | maker accuracy |",
          "|---|---|---|---|---|" + "---|" * len(SITES) + "---|"]
    for m, s in summary.items():
        md.append(f"| {m} | " + " | ".join(f"{s[k]['median']} ({s[k]['min']}-{s[k]['max']})" for k in
                                          ("wall_s", "cpu_s", "lab_daemon_cpu_s", "machine_busy",
                                           *[f"seconds.{x}" for x in SITES]))
                  + f" | {s['maker_accuracy']} |")
    md += ["", f"Speed-up (median wall, sequential / parallel): {result['speedup']}x. Same device set in every run: "
           f"{result['same_devices_every_run']}.",
           "", "Reproduce: `flock /tmp/camscan-bench.lock .venv/bin/python bench/multisite.py "
           + " ".join(sys.argv[1:]) + "` (root)."]
    (res / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
