#!/usr/bin/env bash
# Set up (see setup.sh) and run the test suite, offline. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The report's browser test renders pages in headless Chromium (Debian's package) with a CJK font;
# it skips, saying why, where they are missing and cannot be installed here.
if ! { command -v chromium && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq chromium fonts-noto-cjk || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk; }; } \
        >/dev/null || echo "scripts/test.sh: could not install chromium; the browser test will be skipped" >&2
fi
. .venv/bin/activate
# Static checks first (configured in pyproject.toml): lint, format, types.
ruff check .
ruff format --check .
mypy
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -m pytest -q "$@"
