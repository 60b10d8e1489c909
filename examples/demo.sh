#!/usr/bin/env bash
# camscan's main job on the shipped example observations (becomes a lab scan once the lab and scan exist).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/camscan identify --why examples/observations.jsonl
