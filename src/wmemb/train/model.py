"""Loading the model to train or mine with, and deciding its query instruction."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.models import query_prompt, resolve_model

log = logging.getLogger(__name__)


def load_sentence_model(name_or_path: str | os.PathLike | None, device: str | None = None):
    """Load a sentence-transformers folder (or a plain transformers one, which gets mean pooling).

    Returns (model, folder). A folder that is neither is one clear error, not a transformers traceback.
    """
    from sentence_transformers import SentenceTransformer

    folder = resolve_model(name_or_path)
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise WMEmbError(
            f"{folder}: not a sentence-transformers or transformers model folder "
            "(no modules.json or config.json); pass the folder that holds the model's weights"
        )
    try:
        model = SentenceTransformer(str(folder), device=device)
    except Exception as exc:  # transformers raises many types for broken folders
        first_line = (str(exc).splitlines() or [""])[0][:200]
        raise WMEmbError(f"{folder}: could not load the model ({type(exc).__name__}: {first_line})") from None
    return model, folder


def decide_query_instruction(
    folder: Path, explicit: str | None = None, disabled: bool = False, from_data: str | None = None
) -> str | None:
    """The instruction prepended to queries: --no-query-instruction, --query-instruction, the data's
    own `prompt`, then the one the model is known to use (BGE by name, or a saved prompts["query"])."""
    if disabled and explicit:
        raise WMEmbError("pass either --query-instruction or --no-query-instruction, not both")
    if disabled:
        choice, why = None, "disabled by --no-query-instruction"
    elif explicit:
        choice, why = explicit, "given by --query-instruction"
    elif from_data:
        choice, why = from_data, 'from the dataset\'s "prompt" field'
    else:
        choice = query_prompt(folder)
        why = "the model's own" if choice else "the model is not known to use one"
    log.info("query instruction: %s (%s)", repr(choice) if choice else "none", why)
    return choice
