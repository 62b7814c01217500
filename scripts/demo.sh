#!/usr/bin/env bash
# Set up (see setup.sh) and run the main job on the embedded defaults, offline, on the bundled
# sample corpus (Debian Reference, GPL-2+; see data/sample/COPYRIGHT-debian-reference).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# split -> prepare (SmolLM2 writes questions) -> finetune -> expand -> finetune -> evaluate, in work/sample;
# rerunning skips what is done. The report lands in work/sample/report/report.md.
wmemb run configs/sample.toml "$@"
