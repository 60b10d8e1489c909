"""Benchmark: camscan versus nmap on the lab's `site` profile (wall time and maker accuracy vs the truth).

Run as root: .venv/bin/python bench/scan_vs_nmap.py [--profile site] [--with-engine-nmap]
Writes bench/results/scan_vs_nmap.json and .md. Every packet stays inside the lab's namespaces.

Runs, all from the lab's scanner namespace against the same subnet:
  camscan      `camscan scan SUBNET` (default modules, no credentials)
  camscan-nmap `camscan scan SUBNET --engine nmap` (nmap finds and banners hosts, camscan identifies)
  nmap         `nmap -sn -n SUBNET`, then `nmap -sV -n -Pn -p PORTS --script broadcast-wsdd-discover LIVE`
For plain nmap the maker is what nmap itself says: the first maker (or brand, mapped to its maker)
named in nmap's MAC vendor, service product/version/extrainfo/devicetype or script output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import fromstring

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scanner.discovery.tcp import DEFAULT_PORTS  # noqa: E402
from scanner.evaluate import score  # noqa: E402
from scanner.match.engine import get_engine  # noqa: E402

CAMSCAN = [sys.executable, "-m", "scanner"]


def camscan(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAMSCAN, *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout,
                          check=True)


def in_lab(cmd: list[str], env: dict[str, str],
           timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    p = subprocess.run([*CAMSCAN, "lab", "exec", "--", *cmd], cwd=REPO, env=env, text=True, capture_output=True,
                       timeout=timeout)
    return time.perf_counter() - t0, p


def maker_names() -> list[tuple[re.Pattern[str], str]]:
    """(pattern, maker slug) for every maker name, alias and brand name, longest first."""
    db = get_engine().db
    names: list[tuple[str, str]] = []
    for m in db.makers.values():
        for n in (m.name, *m.aliases):
            names.append((n, m.slug))
    for b in db.brands.values():
        for n in (b.name, *b.aliases):
            names.append((n, b.maker))
    names.sort(key=lambda x: -len(x[0]))
    return [(re.compile(r"(?<![A-Za-z])" + re.escape(n) + r"(?![A-Za-z])", re.I), s) for n, s in names if len(n) >= 3]


def nmap_makers(xml_texts: list[str]) -> dict[str, dict[str, Any]]:
    """ip -> {vendor, text} from nmap's own words."""
    pats = maker_names()
    words: dict[str, list[str]] = {}
    for x in xml_texts:
        if not x.strip():
            continue
        root = fromstring(x.encode())
        for host in root.iter("host"):
            ip = None
            for a in host.iter("address"):
                if a.get("addrtype") == "ipv4":
                    ip = a.get("addr")
            if ip is None:
                continue
            w = words.setdefault(ip, [])
            for a in host.iter("address"):
                if a.get("vendor"):
                    w.append(a.get("vendor", ""))
            for svc in host.iter("service"):
                w += [svc.get(k, "") for k in ("product", "version", "extrainfo", "devicetype", "ostype")]
            for sc in host.iter("script"):
                w.append(sc.get("output", ""))
    out: dict[str, dict[str, Any]] = {}
    for ip, w in words.items():
        text = " | ".join(s for s in w if s)
        vendor = next((slug for rx, slug in pats if rx.search(text)), None)
        out[ip] = {"ip": ip, "vendor": vendor, "model": None, "brand": None, "category": "unknown", "text": text}
    return out


def _camscan_only(results: dict[str, Any]) -> None:
    out = REPO / "bench" / "results" / "scan_site.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="site")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--nmap-timeout", type=float, default=3000,
                    help="seconds the nmap -sV pass may run; past it the partial result is scored")
    ap.add_argument("--skip-nmap", action="store_true",
                    help="camscan only (nmap takes about 25 minutes): results go to bench/results/scan_site.json")
    ap.add_argument("--with-engine-nmap", action="store_true",
                    help="also time `camscan scan --engine nmap` (as slow as the nmap run)")
    args = ap.parse_args()
    env = {**os.environ, "CAMSCAN_LAB": f"bench{os.getpid()}"}
    results: dict[str, Any] = {"profile": args.profile, "seed": args.seed, "ports": len(DEFAULT_PORTS)}
    try:
        t0 = time.perf_counter()
        camscan("lab", "up", "--profile", args.profile, "--seed", args.seed, env=env)
        results["lab_up_seconds"] = round(time.perf_counter() - t0, 1)
        truth = json.loads(camscan("lab", "truth", env=env).stdout)
        subnet = truth["subnet"]
        results["hosts"] = len(truth["devices"])
        with tempfile.TemporaryDirectory() as tmp:
            runs: list[tuple[str, list[str]]] = [("camscan", [])]
            if args.with_engine_nmap:
                runs.append(("camscan-nmap", ["--engine", "nmap"]))
            for name, extra in runs:
                out = Path(tmp) / name
                secs, p = in_lab([*CAMSCAN, "scan", subnet, "--out", str(out), "--no-store", *extra], env)
                if p.returncode != 0:
                    results[name] = {"error": p.stderr[-2000:]}
                    continue
                inv = json.loads((out / "inventory.json").read_text())
                sc = score(truth, inv["devices"])
                results[name] = {"seconds": round(secs, 1), **sc.as_dict(), "errors": len(inv["scan"]["errors"]),
                                 "misses": sc.misses[:40]}
            if args.skip_nmap:
                return _camscan_only(results)
            ports = ",".join(str(p) for p in DEFAULT_PORTS)
            t_sn, p1 = in_lab(["nmap", "-sn", "-n", "-T4", subnet, "-oX", "-"], env)
            live = [ip for ip in nmap_makers([p1.stdout]) if ip != truth["scanner_ip"]]
            xml_out = Path(tmp) / "nmap-sv.xml"   # nmap writes hosts as they finish: partial on timeout
            timed_out = False
            t0 = time.perf_counter()
            try:
                in_lab(["nmap", "-sV", "-n", "-Pn", "-T4", "-p", ports, "--script", "broadcast-wsdd-discover",
                        *live, "-oX", str(xml_out)], env, timeout=args.nmap_timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                subprocess.run(["pkill", "-f", str(xml_out)], capture_output=True)
            t_sv = time.perf_counter() - t0
            partial = xml_out.read_text() if xml_out.exists() else ""
            if timed_out and partial and "</nmaprun>" not in partial:
                partial += "</nmaprun>\n"
            devs = nmap_makers([p1.stdout, partial])
            sc = score(truth, list(devs.values()))
            results["nmap"] = {"seconds": round(t_sn + t_sv, 1), "seconds_sn": round(t_sn, 1),
                               "seconds_sv": round(t_sv, 1), "timed_out": timed_out, "live_hosts": len(live),
                               "found": sc.found, "surveillance_devices": sc.surveillance_truth,
                               "maker_accuracy": round(sc.rate(sc.maker_right), 4),
                               "command": f"nmap -sn -n -T4 {subnet}; nmap -sV -n -Pn -T4 -p {ports} "
                                          "--script broadcast-wsdd-discover <live hosts>"}
    finally:
        subprocess.run([*CAMSCAN, "lab", "down"], cwd=REPO, env=env, capture_output=True)
    c, n = results.get("camscan", {}), results.get("nmap", {})
    if c.get("seconds") and n.get("seconds"):
        results["speedup_vs_nmap"] = round(n["seconds"] / c["seconds"], 2)   # a lower bound if nmap timed out
    res_dir = REPO / "bench" / "results"
    res_dir.mkdir(exist_ok=True)
    (res_dir / "scan_vs_nmap.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# camscan vs nmap on the lab `{args.profile}` profile (seed {args.seed})", "",
             f"{results.get('hosts')} hosts; lab up in {results.get('lab_up_seconds')} s. "
             "Maker accuracy is over the surveillance devices in the lab's truth.", "",
             "| run | wall time (s) | found | maker accuracy | model accuracy | category accuracy |",
             "|---|---|---|---|---|---|"]
    for name in ("camscan", "camscan-nmap", "nmap"):
        r = results.get(name, {})
        lines.append(f"| {name} | {r.get('seconds', '-')} | {r.get('found', '-')}/{r.get('surveillance_devices', '-')}"
                     f" | {r.get('maker_accuracy', '-')} | {r.get('model_accuracy', '-')} | "
                     f"{r.get('category_accuracy', '-')} |")
    if "speedup_vs_nmap" in results:
        bound = "at least " if n.get("timed_out") else ""
        lines += ["", f"camscan's default scan is {bound}{results['speedup_vs_nmap']}x faster than the nmap run"
                  + (" (nmap -sV was stopped at the time limit; its accuracy is over the hosts it finished)."
                     if n.get("timed_out") else ".")]
    lines += ["", f"nmap command: `{n.get('command', '')}`"]
    (res_dir / "scan_vs_nmap.md").write_text("\n".join(lines) + "\n")
    print(json.dumps({k: v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
