"""Benchmark: how long `camscan lab up --profile site` takes, how much memory the running lab holds,
and how long `camscan lab down` takes. Needs root. Writes bench/results/lab_up.json and .md.

Usage: sudo .venv/bin/python bench/lab_up.py [--profile site] [--runs 3]
(results of another profile go to bench/results/lab_up.<profile>.json and .md)
Targets (issue 3): site up < 90 s, memory < 4 GB, down < 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scanner.lab import state as lab_state  # noqa: E402

RESULTS = REPO / "bench" / "results"


def camscan(instance: str, *args: str) -> tuple[float, str]:
    """Run `camscan ARGS` for INSTANCE; return (seconds, stdout); raise on failure."""
    env = {**os.environ, "CAMSCAN_LAB": instance}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "scanner", *args], env=env, cwd=REPO, text=True,
                       capture_output=True)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"camscan {' '.join(args)} failed: {p.stderr.strip()}")
    return dt, p.stdout.strip()


def rss_kib(pid: int) -> int:
    """Resident set size of PID in KiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size of PID in KiB (shared pages split between their users; 0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def lab_processes(instance: str) -> tuple[int | None, list[int]]:
    """The daemon's pid and the pids of its snmpd processes."""
    root = str(lab_state.paths(instance).root)
    daemon = lab_state.daemon_pid(instance)
    snmpd = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and str(d.name) != str(daemon):
            argv = lab_state.cmdline(int(d.name))
            if argv and argv[0].endswith("snmpd") and any(root in a for a in argv):
                snmpd.append(int(d.name))
    return daemon, snmpd


def cpu_ticks(pid: int) -> int:
    """User + system clock ticks used so far by PID (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def mem_available_kib() -> int:
    """MemAvailable from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def one_run(profile: str, seed: int) -> dict[str, Any]:
    """Bring PROFILE up and down once under a fresh instance; return the figures."""
    inst = f"bench{uuid.uuid4().hex[:6]}"
    avail0 = mem_available_kib()
    try:
        up_s, summary = camscan(inst, "lab", "up", "--profile", profile, "--seed", str(seed))
        time.sleep(2)  # let start-up garbage settle before measuring
        daemon, snmpd = lab_processes(inst)
        daemon_kib = rss_kib(daemon) if daemon else 0
        snmpd_kib = sum(rss_kib(p) for p in snmpd)
        pss = sum(pss_kib(p) for p in [*([daemon] if daemon else []), *snmpd])
        avail1 = mem_available_kib()
        idle = 0.0
        if daemon:
            t0 = cpu_ticks(daemon)
            time.sleep(5)
            idle = (cpu_ticks(daemon) - t0) / os.sysconf("SC_CLK_TCK") / 5 * 100
        hosts = len(json.loads(camscan(inst, "lab", "truth")[1])["devices"])
    finally:
        down_s, _ = camscan(inst, "lab", "down")
    return {"up_s": round(up_s, 2), "down_s": round(down_s, 2), "hosts": hosts, "snmpd": len(snmpd),
            "daemon_rss_mib": round(daemon_kib / 1024, 1), "snmpd_rss_mib": round(snmpd_kib / 1024, 1),
            "lab_rss_mib": round((daemon_kib + snmpd_kib) / 1024, 1), "lab_pss_mib": round(pss / 1024, 1),
            "mem_available_drop_mib": round((avail0 - avail1) / 1024, 1),
            "daemon_idle_cpu_pct": round(idle, 1), "summary": summary}


def main() -> int:
    """Run the benchmark and write the results."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="site")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    runs = [one_run(args.profile, args.seed) for _ in range(args.runs)]
    for r in runs:
        print(json.dumps(r), flush=True)
    med = {k: round(statistics.median(r[k] for r in runs), 2) for k in
           ("up_s", "down_s", "lab_rss_mib", "lab_pss_mib", "daemon_rss_mib", "snmpd_rss_mib",
            "mem_available_drop_mib", "daemon_idle_cpu_pct")}
    result = {
        "benchmark": "lab_up", "profile": args.profile, "seed": args.seed, "runs": runs, "median": med,
        "hosts": runs[0]["hosts"], "snmpd": runs[0]["snmpd"],
        "targets": {"up_s": 90, "lab_rss_mib": 4096, "down_s": 30},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "mem_total_mib": round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024),
                    "loadavg_1min_before": round(load_before, 2)},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "lab_up" if args.profile == "site" else f"lab_up.{args.profile}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    ok = med["up_s"] < 90 and med["lab_rss_mib"] < 4096 and med["down_s"] < 30
    md = [
        f"# lab_up: `camscan lab up --profile {args.profile}` ({result['date']})",
        "",
        f"Machine: {os.cpu_count()} CPUs, {result['machine']['mem_total_mib']} MiB RAM, "
        f"kernel {platform.release()}, Python {platform.python_version()}. "
        f"{args.runs} runs, seed {args.seed}; {result['hosts']} hosts, {result['snmpd']} snmpd. "
        f"1-min load average before the runs: {load_before:.2f} (other work on the machine slows `up`).",
        "",
        "| figure | median | target |",
        "|---|---|---|",
        f"| up (until every host answers) | {med['up_s']} s | < 90 s |",
        f"| lab RSS (daemon + snmpd) | {med['lab_rss_mib']} MiB | < 4096 MiB |",
        f"| lab PSS (shared pages split) | {med['lab_pss_mib']} MiB | |",
        f"| RSS of the daemon | {med['daemon_rss_mib']} MiB | |",
        f"| RSS of all snmpd | {med['snmpd_rss_mib']} MiB | |",
        f"| MemAvailable drop (incl. kernel netns/veth) | {med['mem_available_drop_mib']} MiB | |",
        f"| daemon CPU when idle (5 s after up) | {med['daemon_idle_cpu_pct']} % of a core | |",
        f"| down | {med['down_s']} s | < 30 s |",
        "",
        f"All targets met: {'yes' if ok else 'NO'}. RSS counts shared pages once per process "
        "(an over-estimate).",
        "",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
