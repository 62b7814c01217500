"""Export a sentence-transformers model for serving: ONNX or OpenVINO, optionally int8-quantised.

The exported folder has the layout sentence-transformers' own `backend="onnx"` / `backend="openvino"`
exports have: the model's settings, tokenizer, pooling and normalisation modules and prompts (the query
instruction wmemb writes into `prompts["query"]`) as `model.save` writes them, without the torch weights,
plus `onnx/model.onnx` (int8: `onnx/model_qint8_quantized.onnx`) or `openvino/openvino_model.xml` + `.bin`
(int8: `openvino/openvino_model_qint8_quantized.xml`). `wmemb_export.json` says which file it is and how
close its embeddings came to the torch model's.

Why not sentence-transformers' `export_*` functions: they run on Optimum (`optimum-onnx`,
`optimum-intel`), and no released Optimum installs next to transformers 5 (optimum-onnx 0.1.0 requires
transformers<4.58 and fails to import on 5.x; optimum-intel 2.2.0 requires transformers<5.6 and fails to
import on 5.25), while sentence-transformers 6 itself requires transformers>=5. So the same steps are done
with the libraries Optimum wraps: torch's own ONNX exporter (`torch.onnx.export`, dynamo), ONNX Runtime's
dynamic quantisation (`onnxruntime.quantization.quantize_dynamic`, what Optimum's ORTQuantizer calls), and
OpenVINO's converter (`openvino.convert_model` of that ONNX file). Loading goes through sentence-transformers'
own Transformer module with its model swapped for an ONNX Runtime / OpenVINO session (`load_exported`),
so tokenisation, prompts, pooling and normalisation are sentence-transformers' own.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmemb.errors import WMEmbError
from wmemb.io import atomic_dir, check_output_model_dir, folder_size, reject_overwriting_inputs, write_json
from wmemb.jsonable import JsonRecord

log = logging.getLogger(__name__)

FORMATS = ("onnx", "openvino")
# what a model can be served as: the torch model itself, or an export (format, quantisation)
VARIANTS: dict[str, tuple[str, str | None] | None] = {
    "torch": None,
    "onnx": ("onnx", None),
    "onnx-int8": ("onnx", "int8"),
    "openvino": ("openvino", None),
    "openvino-int8": ("openvino", "int8"),
}
QUANTIZATIONS = ("int8",)
INSTALL_HINT = "pip install 'wmemb[serve]'"
EXPORT_INFO = "wmemb_export.json"
# file names as sentence-transformers' exports name them (its dynamic int8 ONNX and static int8 OpenVINO files)
_FILES = {
    ("onnx", None): "onnx/model.onnx",
    ("onnx", "int8"): "onnx/model_qint8_quantized.onnx",
    ("openvino", None): "openvino/openvino_model.xml",
    ("openvino", "int8"): "openvino/openvino_model_qint8_quantized.xml",
}
# what each step imports, and the package that provides it
_EXPORT_NEEDS = {"onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime"}
_OPENVINO_NEEDS = {"openvino": "openvino", "nncf": "nncf"}
_RUNTIME_NEEDS = {"onnx": {"onnxruntime": "onnxruntime"}, "openvino": {"openvino": "openvino"}}
# texts whose embeddings the exported model must reproduce (Chinese and English, short and longer)
PROBE_TEXTS = [
    "革兰氏阳性菌的细胞壁较厚，含有大量肽聚糖。",
    "什么是芽孢杆菌？",
    "Gram-positive bacteria have a thick peptidoglycan cell wall.",
    "How do I install a package on Debian?",
    "root",
]
_TORCH_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_OPSET = 17
# config.model_type of the encoders ONNX Runtime's "bert" fusions cover (as Optimum's ORTOptimizer maps them)
_FUSED_FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra")
_MAX_SINGLE_FILE_BYTES = 1_800_000_000  # ONNX protobuf files stop at 2 GB; larger models keep weights beside them


@dataclass
class ExportResult(JsonRecord):
    """What `export_model` wrote and how close its embeddings are to the torch model's."""

    output: Path
    format: str
    quantize: str | None
    file_name: str  # relative to output: what `model_kwargs={"file_name": ...}` takes
    min_cosine: float  # lowest cosine between torch and exported embeddings of the probe texts
    seconds: float
    size_bytes: int  # of the whole exported folder


@dataclass
class Variant:
    """A model as one serving variant: the torch folder itself, or an export of it."""

    name: str  # a key of VARIANTS
    folder: Path
    model_bytes: int  # of its weights: the safetensors, or the exported file with its external data
    export_seconds: float  # 0 for torch


def export_variants(model: str | os.PathLike | None, names: list[str], folder: str | os.PathLike) -> list[Variant]:
    """`model` as each named variant, in order: "torch" is the model's own folder, the others are exported into
    `folder`/<name> (a folder the caller removes)."""
    from wmemb.models import resolve_model

    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise WMEmbError(f"{unknown[0]}: unknown serving variant; choose from {', '.join(VARIANTS)}")
    variants = []
    for name in names:
        spec = VARIANTS[name]
        if spec is None:
            source = resolve_model(model)
            size = sum(path.stat().st_size for path in source.rglob("*.safetensors")) or folder_size(source)
            variants.append(Variant(name, source, size, 0.0))
            continue
        result = export_model(model, Path(folder) / name, format=spec[0], quantize=spec[1])
        model_file = result.output / result.file_name
        size = model_file.stat().st_size + sum(path.stat().st_size for path in model_file.parent.glob("*.bin"))
        variants.append(Variant(name, result.output, size, result.seconds))
    return variants


def check_export_options(format: str, quantize: str | None) -> None:
    if format not in FORMATS:
        raise WMEmbError(f"--format {format}: unknown export format; choose {' or '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise WMEmbError(
            f"--quantize {quantize}: unknown quantisation; choose {' or '.join(QUANTIZATIONS)} or leave it out (fp32)"
        )


def _require(modules: dict[str, str], what: str) -> None:
    missing = sorted({package for module, package in modules.items() if importlib.util.find_spec(module) is None})
    if missing:
        raise WMEmbError(f"{what} needs {', '.join(missing)} (not installed here); run `{INSTALL_HINT}`")


def require_exporter(format: str, what: str) -> None:
    """The optional packages exporting to `format` needs are installed, else one line naming the extra."""
    _require(_EXPORT_NEEDS | (_OPENVINO_NEEDS if format == "openvino" else {}), what)


def exported_file(folder: Path) -> tuple[str, str] | None:
    """(backend, file name relative to `folder`) of an exported model folder: one without torch weights
    whose onnx/ or openvino/ holds a model; None for any other folder. Several exported files: the one
    `wmemb_export.json` names, else the fp32 one."""
    if not (folder / "modules.json").is_file() or _has_torch_weights(folder):
        return None
    info = folder / EXPORT_INFO
    if info.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            data = json.loads(info.read_text(encoding="utf-8"))
            if data.get("backend") in FORMATS and (folder / str(data.get("file_name"))).is_file():
                return data["backend"], data["file_name"]
    for backend, pattern in (("onnx", "onnx/*.onnx"), ("openvino", "openvino/*.xml")):
        files = sorted(path.relative_to(folder).as_posix() for path in folder.glob(pattern))
        if files:
            plain = _FILES[(backend, None)]
            return backend, plain if plain in files else files[0]
    return None


def _transformer_dirs(folder: Path) -> list[Path]:
    """The folder and the module folders modules.json names (where a Transformer module keeps its weights)."""
    dirs = [folder]
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        dirs += [folder / str(module["path"]) for module in modules if module.get("path")]
    return dirs


def _has_torch_weights(folder: Path) -> bool:
    return any((path / name).is_file() for path in _transformer_dirs(folder) for name in _TORCH_WEIGHTS)


def export_model(
    model: str | os.PathLike | None,
    output: str | os.PathLike,
    format: str = "onnx",
    quantize: str | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export a sentence-transformers model folder (or hub id / "minilm") to `output`, checked before it
    replaces anything: the exported model is loaded back and must embed the probe texts as the torch one does."""
    from wmemb.models import check_model_folder, load_sentence_model

    check_export_options(format, quantize)
    require_exporter(format, f"export --format {format}")
    source = check_model_folder(model)
    if exported_file(source) is not None:
        raise WMEmbError(
            f"{source}: already an exported {exported_file(source)[0]} model (no torch weights); "  # type: ignore[index]
            "export from the sentence-transformers folder it came from"
        )
    check_output_model_dir(output, overwrite)
    reject_overwriting_inputs([output], [("MODEL", source)])
    started = time.perf_counter()
    loaded = load_sentence_model(source, device="cpu")
    st_model = loaded.model
    transformer = _first_transformer(st_model, source)
    reference = st_model.encode(PROBE_TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    file_name = _FILES[(format, quantize)]
    with atomic_dir(output, overwrite=overwrite, needed=folder_size(source)) as folder:
        st_model.save(str(folder))
        for path in _transformer_dirs(folder):  # the exported file replaces the torch weights
            for name in _TORCH_WEIGHTS:
                (path / name).unlink(missing_ok=True)
        onnx_file = folder / "onnx" / "model.onnx"
        _export_onnx(transformer, onnx_file)
        fused: dict[str, int] = {}
        if format == "openvino":  # OpenVINO reads standard ops only: the graph before ONNX Runtime's fusions
            _convert_openvino(onnx_file, folder / file_name, int8=quantize == "int8")
            shutil.rmtree(folder / "onnx")
        else:
            fused = _fuse_onnx(onnx_file, transformer.auto_model.config)
            if quantize == "int8":
                _quantize_onnx(onnx_file, folder / file_name)
                onnx_file.unlink()
        exported = load_exported(folder, backend=format, file_name=file_name)
        embeddings = exported.encode(PROBE_TEXTS, convert_to_numpy=True, normalize_embeddings=True)
        min_cosine = float((embeddings * reference).sum(axis=1).min())
        write_json(
            folder / EXPORT_INFO,
            {
                "backend": format,
                "file_name": file_name,
                "quantize": quantize,
                "source": str(source),
                "probe_min_cosine": round(min_cosine, 6),
                "modules_added": loaded.modules_added,
                "fused_ops": fused,
            },
        )
    size = folder_size(output)
    return ExportResult(
        output=Path(output),
        format=format,
        quantize=quantize,
        file_name=file_name,
        min_cosine=min_cosine,
        seconds=time.perf_counter() - started,
        size_bytes=size,
    )


def _first_transformer(st_model: Any, source: Path) -> Any:
    from sentence_transformers.sentence_transformer.modules import Transformer

    first = st_model[0]
    if not isinstance(first, Transformer) or getattr(first, "backend", "torch") != "torch":
        raise WMEmbError(
            f"{source}: its first module is {type(first).__name__}, not a transformers model; "
            "only Transformer-based sentence-transformers models can be exported"
        )
    if first.transformer_task != "feature-extraction":
        raise WMEmbError(
            f"{source}: a {first.transformer_task} model; only embedding (feature-extraction) models export"
        )
    return first


def _export_onnx(transformer: Any, path: Path) -> None:
    """torch.onnx.export of the transformers model: token ids in, last_hidden_state out, batch and sequence
    length dynamic; input and output names as Optimum's feature-extraction export names them.

    Exported as Optimum does, by tracing (TorchScript) the model with its eager attention: ONNX Runtime's
    transformer optimizer (`_fuse_onnx`) recognises that graph's attention and fuses it into one op. The
    dynamo exporter's graph, or one traced through scaled_dot_product_attention, keeps attention as a dozen
    small ops that neither fuse nor quantise well (measured: ONNX int8 no faster than torch fp32)."""
    import torch

    hf_model = transformer.auto_model.eval()
    if hasattr(hf_model, "set_attn_implementation"):
        hf_model.set_attn_implementation("eager")  # the same arithmetic, as separate matmul / softmax steps
    tokenizer = transformer.tokenizer
    accepted = set(_forward_parameters(hf_model))
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in accepted]
    if "token_type_ids" in names and "token_type_ids" not in tokenizer.model_input_names:
        names.remove("token_type_ids")
    # two texts of different lengths: padding, so the attention mask is traced as data, not a constant
    sample = tokenizer(["a", "a longer sample text 样本"], padding=True, return_tensors="pt")
    args = tuple(sample[name] for name in names)

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model(**{name: given[name] for name in names}, return_dict=True).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    # the exporter warns about tracing and torch internals: not the user's business
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            LastHiddenState().eval(),
            args,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]},
            opset_version=_OPSET,
            dynamo=False,
        )


def _fuse_onnx(path: Path, config: Any) -> dict[str, int]:
    """Rewrite the ONNX file with ONNX Runtime's transformer fusions (attention, embedding + layer norm, skip layer
    norm, bias + GELU into single ops; what Optimum's ORTOptimizer applies) for the encoder families they cover;
    other models keep the plain graph. Returns the fused ops and their counts."""
    if getattr(config, "model_type", None) not in _FUSED_FAMILIES:
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet():
        optimized = optimize_model(
            str(path), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
        )
        large = path.stat().st_size > _MAX_SINGLE_FILE_BYTES or any(path.parent.glob("*.data"))
        optimized.save_model_to_file(str(path), use_external_data_format=large)
    return {name: count for name, count in optimized.get_fused_operator_statistics().items() if count}


def _forward_parameters(hf_model: Any) -> list[str]:
    import inspect

    return list(inspect.signature(hf_model.forward).parameters)


def _quantize_onnx(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (weights int8 per channel, activations quantised at run time): no
    calibration data, for CPUs; ONNX Runtime's own `quantize_dynamic`, as Optimum's ORTQuantizer runs it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,  # per tensor: probe cosine 0.977 instead of 0.998 on MiniLM
            op_types_to_quantize=["MatMul", "Gemm", "Attention"],  # Attention: the fused op's QKV weights
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops have no inferred types
        )


def _convert_openvino(source: Path, target: Path, int8: bool) -> None:
    """OpenVINO's converter reads the ONNX file and writes its IR (.xml + .bin). int8: NNCF's weight
    compression (int8 weights, asymmetric per channel; no calibration data), the data-free int8 mode
    Optimum Intel applies to OpenVINO models."""
    import openvino

    model = openvino.convert_model(str(source))
    if int8:
        import nncf

        with _quiet():
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    target.parent.mkdir(parents=True, exist_ok=True)
    openvino.save_model(model, str(target), compress_to_fp16=False)


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters' progress prints, warnings and root-logger notes are not the user's business."""
    root = logging.getLogger()
    loggers = [root, logging.getLogger("torch.onnx"), logging.getLogger("nncf")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class _SessionModel:
    """Stands in for the transformers model inside sentence-transformers' Transformer module: runs an ONNX
    Runtime or OpenVINO session on the token tensors and returns `last_hidden_state`, as Optimum's
    ORTModelForFeatureExtraction / OVModelForFeatureExtraction do."""

    def __init__(self, path: Path, backend: str, config: Any) -> None:
        self.config = config
        self.backend = backend
        if backend == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            # idle threads sleep instead of spinning: on a CPU shared with other work (a server, or the 2 cores
            # here) spinning threads steal the cores the busy ones need (measured under load: int8 1.46x -> 1.71x
            # torch fp32's texts/s)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.input_names = [
                item.get_name() if hasattr(item, "get_name") else item.name for item in self._session.get_inputs()
            ]
        else:
            import openvino

            self._compiled = openvino.Core().compile_model(str(path), "CPU")
            self.input_names = [item.get_any_name() for item in self._compiled.inputs]

    def forward(
        self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None, **_other: Any
    ) -> dict[str, Any]:  # return_dict and other flags the Transformer module passes are moot here
        import numpy as np
        import torch

        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if given["token_type_ids"] is None and "token_type_ids" in self.input_names:
            given["token_type_ids"] = torch.zeros_like(input_ids)
        feeds = {name: np.ascontiguousarray(given[name].cpu().numpy(), dtype=np.int64) for name in self.input_names}
        if self.backend == "onnx":
            output = self._session.run(None, feeds)[0]
        else:
            output = self._compiled(feeds)[0]
        return {"last_hidden_state": torch.from_numpy(np.asarray(output))}

    __call__ = forward

    def eval(self) -> _SessionModel:
        return self

    def to(self, *args: Any, **kwargs: Any) -> _SessionModel:
        return self  # runs on the CPU


def _session_transformer_class() -> Any:
    from sentence_transformers.sentence_transformer.modules import Transformer

    class SessionTransformer(Transformer):
        """sentence-transformers' Transformer module whose model is an ONNX Runtime / OpenVINO session."""

        def _load_model(self, model_name_or_path, transformer_task, config, backend, is_peft_model, **model_kwargs):
            if backend not in FORMATS:
                return super()._load_model(
                    model_name_or_path, transformer_task, config, backend, is_peft_model, **model_kwargs
                )
            return _SessionModel(Path(model_name_or_path) / model_kwargs["file_name"], backend, config)

    return SessionTransformer


def load_exported(
    folder: str | os.PathLike, backend: str | None = None, file_name: str | None = None, device: str | None = None
) -> Any:
    """A sentence-transformers model (`SentenceTransformer`) that runs an exported folder with ONNX Runtime or
    OpenVINO, its prompts, pooling and normalisation as saved. `backend`/`file_name` default to the folder's own
    (see `exported_file`)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Transformer

    path = Path(folder)
    if backend is None or file_name is None:
        found = exported_file(path)
        if found is None:
            raise WMEmbError(f"{path}: not an exported model folder (no onnx/*.onnx or openvino/*.xml)")
        backend, file_name = backend or found[0], file_name or found[1]
    if backend not in FORMATS:
        raise WMEmbError(f"{path}: unknown backend {backend}; choose {' or '.join(FORMATS)}")
    _require(_RUNTIME_NEEDS[backend], f"running an exported {backend} model")
    if not (path / file_name).is_file():
        raise WMEmbError(f"{path / file_name}: not found; export the model again")
    modules_config = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    session_transformer = _session_transformer_class()
    modules = []
    for entry in sorted(modules_config, key=lambda item: item.get("idx", 0)):
        module_class = _import_class(entry["type"])
        subfolder = str(entry.get("path", ""))
        if issubclass(module_class, Transformer):
            module = session_transformer.load(
                str(path / subfolder), backend=backend, model_kwargs={"file_name": str((path / file_name).resolve())}
            )
        else:
            module = module_class.load(str(path), subfolder=subfolder)
        modules.append(module)
    settings: dict[str, Any] = {}
    config_file = path / "config_sentence_transformers.json"
    if config_file.is_file():
        settings = json.loads(config_file.read_text(encoding="utf-8"))
    prompts = {name: text for name, text in (settings.get("prompts") or {}).items() if text is not None}
    return SentenceTransformer(
        modules=modules,
        device=device or "cpu",
        prompts=prompts or None,
        default_prompt_name=settings.get("default_prompt_name"),
        similarity_fn_name=settings.get("similarity_fn_name"),
    )


def _import_class(reference: str) -> Any:
    module_name, _, class_name = reference.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise WMEmbError(f"modules.json names {reference}, which cannot be imported here") from None
