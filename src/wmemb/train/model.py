"""Deciding the query instruction of the model to train or mine with."""

from __future__ import annotations

import logging
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.models import query_prompt

log = logging.getLogger(__name__)


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
