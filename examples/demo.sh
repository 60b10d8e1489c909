#!/usr/bin/env bash
# camscan's main job, end to end on the built-in lab: bring a simulated police site up in network
# namespaces (198.18.0.0/15, nothing touches the real network), scan it from the lab's scanner
# namespace as the two sites of examples/survey/ (each scan recorded in a store), check the result
# against the lab's truth, write the HTML report and the survey return, and tear the lab down again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/demo}"
export CAMSCAN_LAB="${CAMSCAN_LAB:-demo}"
camscan=.venv/bin/camscan
if [ "$(id -u)" != 0 ]; then
  echo "the lab needs root (network namespaces); showing identification of example observations instead" >&2
  exec $camscan identify --why examples/observations.jsonl
fi
trap '$camscan lab down >/dev/null 2>&1 || true' EXIT
$camscan lab down >/dev/null 2>&1 || true
$camscan lab up --profile small --seed 1     # examples/survey/ is written for this profile and seed
mkdir -p "$OUT"
rm -f "$OUT/camscan.db"
$camscan lab truth > "$OUT/truth.json"
for site in hq depot; do
  $camscan lab exec -- "$PWD/.venv/bin/camscan" scan --site "examples/survey/$site.yaml" --out "$OUT/$site" \
    --format json,csv,md,html,xlsx --db "$OUT/camscan.db"
done
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from scanner.evaluate import score
from scanner.inventory.build import count_once
from scanner.inventory.serialise import device_from_dict, device_to_dict
out = sys.argv[1]
truth = json.load(open(f"{out}/truth.json"))
# the two sites' devices, a camera one site's recorder lists and the other site sees counted once (as the survey does)
sites = [[device_from_dict(d) for d in json.load(open(f"{out}/{s}/inventory.json"))["devices"]] for s in ("hq", "depot")]
devices = [device_to_dict(d) for devs in count_once(sites) for d in devs]
sc = score(truth, devices)
print(f"against the lab's truth: {sc.found}/{sc.surveillance_truth} surveillance devices found, "
      f"maker {sc.rate(sc.maker_right):.0%}, model {sc.model_rate():.0%}, "
      f"category {sc.category_rate():.0%}, rebrands {sc.rebrands_right}/{sc.rebrands}, "
      f"{sc.false_surveillance} non-surveillance hosts miscounted")
for m in sc.misses[:20]:
    print("  miss:", m)
PY
$camscan survey --db "$OUT/camscan.db" --overrides examples/survey/overrides.yaml --out "$OUT/survey" \
  --format json,xlsx,csv,md,html
echo
echo "HTML reports:    $OUT/hq/inventory.html  $OUT/depot/inventory.html"
echo "survey return:   $OUT/survey/survey.html  $OUT/survey/survey.xlsx  $OUT/survey/survey.json"
