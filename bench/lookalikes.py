"""Benchmark: real non-video product strings through the engine - how many are counted as surveillance kit.

Run: .venv/bin/python bench/lookalikes.py   (writes bench/results/lookalikes.json)
The corpus, bench/data/lookalikes.jsonl.gz, is 54,128 strings from public product data, as `camscan identify`
takes them (model strings as onvif.model + upnp.model, recog examples on their own signal); its sources, with the
commits they were read at, are in fingerprints/notes/lookalike-audit.md: HPLIP models.dat (HP printers),
OpenPrinting foomatic-db (printers of every maker), the nautobot and astrateam device-type libraries (network,
server, NAS and some video kit), Provisioner (IP phones), rapid7/recog (fingerprints naming no video device).
It was used to narrow rules (round 16, issue 7): it is a regression guard, not a held-out evaluation. The device-type
libraries also list true video products (a Hikvision NVR, a UniFi camera): every string counted as surveillance is
listed with the rule that counted it, so a reader can tell those from look-alikes.
"""

from __future__ import annotations

import collections
import gzip
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.inventory.resolve import identify  # noqa: E402
from scanner.match.engine import Engine  # noqa: E402
from scanner.match.load import SURVEILLANCE_CATEGORIES, load_database  # noqa: E402

CORPUS = REPO / "bench" / "data" / "lookalikes.jsonl.gz"


def main() -> None:
    db = load_database()
    eng = Engine(db)
    total: collections.Counter[str] = collections.Counter()
    counted: collections.Counter[str] = collections.Counter()
    listed: list[dict[str, object]] = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            source = rec["id"].split("|", 1)[0].split(":", 1)[0]
            total[source] += 1
            ident = identify(eng, [(o["signal"], o["value"]) for o in rec["observations"]])
            if ident.category in SURVEILLANCE_CATEGORIES:
                counted[source] += 1
                rules = sorted({e.rule_id for e in ident.evidence if e.category in SURVEILLANCE_CATEGORIES})
                listed.append({"id": rec["id"], "vendor": ident.vendor, "category": ident.category, "rules": rules})
    n, bad = sum(total.values()), sum(counted.values())
    result = {
        "benchmark": "lookalikes", "corpus": str(CORPUS.relative_to(REPO)), "strings": n,
        "counted_as_surveillance": bad, "rate": round(bad / n, 5),
        "per_source": {s: {"strings": total[s], "counted": counted[s]} for s in sorted(total)},
        "counted": listed,
        "database": {"version": db.version, "rules": len(db.rules), "model_rules": len(db.model_rules)},
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                 capture_output=True).stdout.strip(),
    }
    out = REPO / "bench" / "results" / "lookalikes.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{bad} of {n} strings counted as surveillance ({bad / n:.3%}; the video products the lists also hold "
          f"among them), each listed with its rules in {out}")


if __name__ == "__main__":
    main()
