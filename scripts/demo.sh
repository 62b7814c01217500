#!/usr/bin/env bash
# Set up (see setup.sh) and run the main job on the embedded defaults, offline, on the bundled
# sample corpus (Debian Reference, GPL-2+; see data/sample/COPYRIGHT-debian-reference).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
wmemb split data/sample/debian-reference-en-ch1-2.txt -o work/sample --name sample
