"""LM-Cocktail style merging: a weighted average of the base and the fine-tuned weights.

Fine-tuning on one domain costs some general ability; averaging with the base model keeps most of
the domain gain while recovering it (Xiao et al., LM-Cocktail, 2023).
"""

from __future__ import annotations

import logging
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.models import load_sentence_model

log = logging.getLogger(__name__)


def merge_with_base(model, base_folder: str | Path, base_weight: float) -> None:
    """Set every floating-point weight of `model` to base_weight * base + (1 - base_weight) * model, in place."""
    import torch

    if not 0 < base_weight < 1:
        raise WMEmbError(f"--merge-with-base must be strictly between 0 and 1 (got {base_weight})")
    base = load_sentence_model(base_folder, device="cpu").model
    base_state = base.state_dict()
    merged = set()  # tied weights appear under several names but must be averaged once
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or tensor.data_ptr() in merged:
                continue
            other = base_state.get(name)
            if other is None or other.shape != tensor.shape:
                raise WMEmbError(
                    f"{base_folder}: cannot merge, weight {name!r} differs in shape from the fine-tuned model's"
                )
            tensor.mul_(1 - base_weight).add_(other.to(tensor.device, tensor.dtype), alpha=base_weight)
            merged.add(tensor.data_ptr())
    log.info(
        "merged with the base model: %.2f base + %.2f fine-tuned (%d tensors)",
        base_weight,
        1 - base_weight,
        len(merged),
    )
