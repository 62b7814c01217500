"""Whether the optional extra `wmemb[serve]` (the ONNX exporter and runtime) is installed here."""

from __future__ import annotations

import importlib.util

import pytest

SERVE_HINT = "the optional extra is not installed here: pip install 'wmemb[serve]' (scripts/setup.sh installs it)"
ONNX_INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not ONNX_INSTALLED, reason=SERVE_HINT)
