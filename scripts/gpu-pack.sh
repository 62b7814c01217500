#!/usr/bin/env bash
# Prepare what an offline GPU machine lacks (run here, with the registries reachable), into gpu-carry/
# (under 64 MiB): wheels of the missing packages the gpu tests need (not jieba or wordfreq, 19 and 57 MB:
# the vocabulary tests are not GPU tests), and the packaged
# MiniLM as an fp16 copy (44 MB instead of 87 MB) that scripts/gpu-check.sh casts back to fp32.
# Carry gpu-carry/ with the checkout, then run scripts/gpu-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${GPU_PYTHON_VERSION:-3.12}
rm -rf gpu-carry && mkdir -p gpu-carry/wheels
PY=${PYTHON:-.venv/bin/python}  # the project's environment (scripts/setup.sh)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --dest gpu-carry/wheels datasets dill multiprocess xxhash pypdf beautifulsoup4 soupsieve sniffio gguf
"$PY" - <<'PY'
import json, shutil
from pathlib import Path
from safetensors.torch import load_file, save_file
from wmemb.models import resolve_model
source, target = resolve_model(None), Path("gpu-carry/minilm")
shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "onnx", "openvino"))
weights = load_file(str(source / "model.safetensors"))
save_file({name: tensor.half() for name, tensor in weights.items()}, str(target / "model.fp16.safetensors"))
PY
du -sh gpu-carry
