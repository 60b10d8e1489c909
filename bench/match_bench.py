"""Benchmark: database load time and observations matched per second on one core (realistic mix).

Run: .venv/bin/python bench/match_bench.py  (writes bench/results/match.json)
The mix is built from the database's own rule examples (what devices really send) plus a share of
values no rule knows (most of what a site's IT kit sends), and whole-device identification.
Load is measured twice in fresh processes: from YAML (no cache) and from the validated-database cache.
Matching is measured as a scan sees it (the engine remembers recent (signal, value) answers, and a
site repeats itself) and cold, with that memory off, so every observation runs the matchers.
"""

from __future__ import annotations

import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

from scanner.inventory.resolve import identify
from scanner.match.engine import Engine
from scanner.match.load import load_database

UNKNOWN = [("http.server", "nginx/1.18.0"), ("http.server", "Apache/2.4.41 (Ubuntu)"),
           ("http.title", "Welcome"), ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
           ("mac", "00:1a:2b:3c:4d:5e"), ("snmp.sysdescr", "Linux host 5.15.0 #1 SMP x86_64"),
           ("http.www_authenticate", 'Basic realm="Restricted"'), ("tls.subject", "CN=localhost")]


_LOAD = """
import json, sys, time
t0 = time.perf_counter()
from scanner.match.load import load_database
from scanner.match.engine import Engine
t1 = time.perf_counter()
db = load_database(cache=sys.argv[1] == "1")
t2 = time.perf_counter()
Engine(db)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "compile": t3 - t2}))
"""


def _load_in_fresh_process(cache: bool) -> dict[str, float]:
    """Best of five fresh interpreters: import, load and compile seconds."""
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", _LOAD, "1" if cache else "0"], check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    return min(runs, key=lambda r: r["load"] + r["compile"])


def _rate(eng: Engine, mix: list[tuple[str, str]]) -> int:
    for s, v in mix[:2000]:   # warm lazily compiled regexes
        eng.match(s, v)
    t = time.perf_counter()
    for s, v in mix:
        eng.match(s, v)
    return round(len(mix) / (time.perf_counter() - t))


def main() -> None:
    load_database()   # make sure the cache holds this version
    cold_load = _load_in_fresh_process(cache=False)
    warm_load = _load_in_fresh_process(cache=True)
    db = load_database()
    eng = Engine(db)
    rng = random.Random(7)
    known = [(r.signal, ex.value) for r in db.rules for ex in r.examples]
    ouis = [p for p in db.oui if len(p) == 6]

    def one() -> tuple[str, str]:
        if rng.random() < 0.1:   # every device has a MAC of its own: these never repeat
            p = rng.choice(ouis) if rng.random() < 0.5 else f"{rng.randrange(1 << 24):06X}"
            return "mac", f"{p[0:2]}:{p[2:4]}:{p[4:6]}:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
        return rng.choice(known) if rng.random() < 0.5 else rng.choice(UNKNOWN)

    mix = [one() for _ in range(50_000)]
    warm_rate = _rate(eng, mix)
    cold_rate = _rate(Engine(db, memo=0), mix)
    devices = [mix[i:i + 8] for i in range(0, 20_000, 8)]
    t3 = time.perf_counter()
    for d in devices:
        identify(eng, d)
    ident_s = time.perf_counter() - t3
    res = {
        "python": platform.python_version(), "machine": platform.machine(),
        "rules": len(db.rules), "model_rules": len(db.model_rules), "oui_prefixes": len(db.oui),
        "load_seconds": round(warm_load["load"], 4), "compile_seconds": round(warm_load["compile"], 4),
        "load_plus_compile_seconds": round(warm_load["load"] + warm_load["compile"], 4),
        "load_plus_compile_seconds_without_cache": round(cold_load["load"] + cold_load["compile"], 4),
        "import_seconds": round(warm_load["import"], 4),
        "observations": len(mix), "distinct_values": len(set(mix)),
        "observations_per_second": warm_rate, "observations_per_second_without_memo": cold_rate,
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
