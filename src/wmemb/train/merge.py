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
    """Set every floating-point weight of `model` to base_weight * base + (1 - base_weight) * model, in place.

    A model whose vocabulary was expanded has more embedding rows than its base: the rows both have
    are averaged, the added tokens' rows (which the base has no value for) are kept as trained."""
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
            shared = tensor
            if other is not None and other.shape != tensor.shape and _added_rows(other.shape, tensor.shape):
                shared = tensor[: other.shape[0]]
            elif other is None or other.shape != tensor.shape:
                raise WMEmbError(
                    f"{base_folder}: cannot merge, weight {name!r} differs in shape from the fine-tuned model's"
                )
            shared.mul_(1 - base_weight).add_(other.to(tensor.device, tensor.dtype), alpha=base_weight)
            merged.add(tensor.data_ptr())
    log.info(
        "merged with the base model: %.2f base + %.2f fine-tuned (%d tensors)",
        base_weight,
        1 - base_weight,
        len(merged),
    )


def _added_rows(base_shape, shape) -> bool:
    """The model's weight is the base's with rows appended (an embedding matrix after expansion)."""
    return len(shape) == 2 and base_shape[1:] == shape[1:] and base_shape[0] < shape[0]
