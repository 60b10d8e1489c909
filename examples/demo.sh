#!/usr/bin/env bash
# camscan's main job, end to end on the built-in lab: bring a simulated police site up in network
# namespaces (198.18.0.0/15, nothing touches the real network), scan it from the lab's scanner
# namespace, print the inventory summary, and tear the lab down again.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-small}"
OUT="${OUT:-out/demo}"
export CAMSCAN_LAB="${CAMSCAN_LAB:-demo}"
camscan=.venv/bin/camscan
if [ "$(id -u)" != 0 ]; then
  echo "the lab needs root (network namespaces); showing identification of example observations instead" >&2
  exec $camscan identify --why examples/observations.jsonl
fi
trap '$camscan lab down >/dev/null 2>&1 || true' EXIT
$camscan lab down >/dev/null 2>&1 || true
$camscan lab up --profile "$PROFILE"
subnet=$($camscan lab truth | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["subnet"])')
mkdir -p "$OUT"
$camscan lab truth > "$OUT/truth.json"
$camscan lab exec -- "$PWD/.venv/bin/camscan" scan "$subnet" --out "$OUT" --format json,csv,md \
  --credentials examples/lab-credentials.yaml
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from scanner.evaluate import score
out = sys.argv[1]
truth = json.load(open(f"{out}/truth.json"))
inv = json.load(open(f"{out}/inventory.json"))
sc = score(truth, inv["devices"])
print(f"against the lab's truth: {sc.found}/{sc.surveillance_truth} surveillance devices found, "
      f"maker {sc.rate(sc.maker_right):.0%}, model {sc.model_rate():.0%}, "
      f"category {sc.category_rate():.0%}, rebrands {sc.rebrands_right}/{sc.rebrands}, "
      f"{sc.false_surveillance} non-surveillance hosts miscounted")
for m in sc.misses[:20]:
    print("  miss:", m)
PY
echo "inventory written to $OUT/ (inventory.json, inventory.csv, inventory.md)"
