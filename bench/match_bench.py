"""Benchmark: database load time and observations matched per second on one core (realistic mix).

Run: .venv/bin/python bench/match_bench.py  (writes bench/results/match.json)
The mix is built from the database's own rule examples (what devices really send) plus a share of
values no rule knows (most of what a site's IT kit sends), and whole-device identification.
"""

from __future__ import annotations

import json
import platform
import random
import time
from pathlib import Path

from scanner.match.engine import Engine
from scanner.match.load import load_database

UNKNOWN = [("http.server", "nginx/1.18.0"), ("http.server", "Apache/2.4.41 (Ubuntu)"),
           ("http.title", "Welcome"), ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
           ("mac", "00:1a:2b:3c:4d:5e"), ("snmp.sysdescr", "Linux host 5.15.0 #1 SMP x86_64"),
           ("http.www_authenticate", 'Basic realm="Restricted"'), ("tls.subject", "CN=localhost")]


def main() -> None:
    t0 = time.perf_counter()
    db = load_database()
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    eng = Engine(db)
    compile_s = time.perf_counter() - t1
    rng = random.Random(7)
    known = [(r.signal, ex.value) for r in db.rules for ex in r.examples]
    known += [("mac", f"{p[0:2]}:{p[2:4]}:{p[4:6]}:01:02:03") for p in list(db.oui)[:200] if len(p) == 6]
    mix = [rng.choice(known) if rng.random() < 0.5 else rng.choice(UNKNOWN) for _ in range(50_000)]
    for s, v in mix[:2000]:   # warm the lazily compiled regex suffixes
        eng.match(s, v)
    t2 = time.perf_counter()
    for s, v in mix:
        eng.match(s, v)
    match_s = time.perf_counter() - t2
    devices = [mix[i:i + 8] for i in range(0, 20_000, 8)]
    t3 = time.perf_counter()
    for d in devices:
        eng.identify(d)
    ident_s = time.perf_counter() - t3
    res = {
        "python": platform.python_version(), "machine": platform.machine(),
        "rules": len(db.rules), "model_rules": len(db.model_rules), "oui_prefixes": len(db.oui),
        "load_seconds": round(load_s, 4), "compile_seconds": round(compile_s, 4),
        "load_plus_compile_seconds": round(load_s + compile_s, 4),
        "observations": len(mix), "observations_per_second": round(len(mix) / match_s),
        "devices": len(devices), "observations_per_device": 8,
        "identify_observations_per_second": round(len(devices) * 8 / ident_s),
        "identify_devices_per_second": round(len(devices) / ident_s),
    }
    out = Path(__file__).parent / "results" / "match.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
