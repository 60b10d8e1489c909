"""A/B of cold matching between a git revision and the working tree, in one process (CPU time, interleaved).

Run: .venv/bin/python bench/match_ab.py [REV] [ROUNDS]   (default REV HEAD~1, 7 rounds; under the bench lock)
The revision's scanner package is exported to a temporary folder as `scanner_base`, both engines load one
snapshot of fingerprints/ and match the bench's cold mix (match_bench: every look-alike value new, no memo),
alternating, with the garbage collector off. Prints the per-signal CPU time (best of the rounds, each signal's
observations in a row) and the whole mix in its mixed order: each round's time ratio and the best rates; and
checks that both answer the same. On a shared machine the ratio of interleaved passes is steadier than any
single rate.
"""

from __future__ import annotations

import collections
import gc
import importlib
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _export(rev: str, into: Path) -> None:
    """The revision's scanner/ as into/scanner_base, its own imports renamed."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "scanner"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "scanner").rename(into / "scanner_base")
    for py in (into / "scanner_base").rglob("*.py"):
        text = py.read_text()
        text = re.sub(r"\b(from|import) scanner\.", r"\1 scanner_base.", text)
        text = text.replace('resources.files("scanner")', 'resources.files("scanner_base")')
        py.write_text(text)


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    sys.path[:0] = [str(HERE), str(ROOT)]
    with tempfile.TemporaryDirectory() as tmp:
        _export(rev, Path(tmp))
        fp = Path(tmp) / "fingerprints"
        shutil.copytree(ROOT / "fingerprints", fp)
        sys.path.insert(0, tmp)
        bench: Any = importlib.import_module("match_bench")
        engines = {}
        for name, pkg in (("A", "scanner_base"), ("B", "scanner")):
            load = importlib.import_module(f"{pkg}.match.load").load_database
            engine = importlib.import_module(f"{pkg}.match.engine").Engine
            engines[name] = engine(load(fp, cache=False), memo=0)
        db = engines["B"].db
        known = [(r.signal, ex.value) for r in db.rules for ex in r.examples]
        ouis = [p for p in db.oui if len(p) == 6]
        rng = random.Random(11)
        mix = bench._mix(rng, known, ouis, 50_000, lambda: bench.lookalike(rng))
        warm = known + [bench.lookalike(random.Random(13)) for _ in range(2000)]
        for e in engines.values():
            for s, v in warm:
                e.match(s, v)
        by: dict[str, list[str]] = collections.defaultdict(list)
        for s, v in mix:
            by[s].append(v)
        per: dict[str, dict[str, float]] = {k: {} for k in engines}
        total: dict[str, list[float]] = {k: [] for k in engines}
        gc.collect()
        gc.disable()
        for _ in range(rounds):
            for k, e in engines.items():
                m = e.match
                t = time.process_time()
                for s, v in mix:
                    m(s, v)
                total[k].append(time.process_time() - t)
                for s, vals in by.items():
                    t = time.process_time()
                    for v in vals:
                        m(s, v)
                    per[k][s] = min(per[k].get(s, 1e9), time.process_time() - t)
        gc.enable()
        a, b = per["A"], per["B"]
        print(f"A = {rev}, B = working tree; {len(db.rules)} rules; CPU ms per signal (best of {rounds})")
        for s in sorted(a, key=lambda s: -a[s]):
            print(f"  {s:24s} A {a[s] * 1e3:6.1f}  B {b[s] * 1e3:6.1f}  B/A {b[s] / a[s]:.2f}")
        print(f"  {'sum':24s} A {sum(a.values()) * 1e3:6.1f}  B {sum(b.values()) * 1e3:6.1f}")
        ratios = [x / y for x, y in zip(total["A"], total["B"], strict=True)]
        print("mixed order, A time / B time per round:", [round(r, 3) for r in ratios],
              "median", round(statistics.median(ratios), 3))
        best = {k: len(mix) / min(v) for k, v in total.items()}
        print(f"best rates: A {best['A']:,.0f}/s  B {best['B']:,.0f}/s per CPU second")
        differ = sum(1 for s, v in mix if engines["A"].match(s, v) != engines["B"].match(s, v))
        print("observations answered differently:", differ)


if __name__ == "__main__":
    main()
