"""An unsupervised pass after expansion: masked-language-model training on the corpus's passages.

Contrastive fine-tuning trains a new token's embedding row only through the few training pairs that
contain the term (vocab/coverage.py counts them). Masked-language-model training over all training
passages gives every occurrence a say: each one is an input of the encoder, and, when masked, a
target scored against the same (tied) embedding row. New terms' tokens are masked more often than
other tokens, since they are what this pass is for.

Masked-language modelling rather than TSDAE (sentence-transformers' DenoisingAutoEncoderLoss):
TSDAE adds a second copy of the encoder as a decoder with new cross-attention layers, and its noise
deletes words found by nltk's tokenizer, which leaves Chinese text unsplit. MLM needs only a small
prediction head on the encoder the model already has, and transformers' DataCollatorForLanguageModeling
masks any tokenizer's text. The head is built fresh (sentence-transformers checkpoints do not ship
one): it first learns alone for one pass over the texts, with the encoder frozen, so that the
encoder's first updates are not driven by a random head.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from tqdm import tqdm

from wmemb.errors import WMEmbError
from wmemb.io import atomic_dir, folder_size
from wmemb.jsonable import JsonRecord
from wmemb.models import load_sentence_model

log = logging.getLogger(__name__)

MLM_PROBABILITY = 0.15  # share of ordinary tokens masked (BERT's)
NEW_TOKEN_MASK_PROBABILITY = 0.5  # share of the new terms' tokens masked
LEARNING_RATE = 2e-5
HEAD_LEARNING_RATE = 1e-3  # the fresh head alone, while the encoder is frozen
BATCH_SIZE = 16


@dataclass
class AdaptSummary(JsonRecord):
    texts: int
    epochs: int
    steps: int
    new_token_targets: int  # masked occurrences of new tokens the model learnt to predict
    head_losses: tuple[float, float]  # MLM loss at the first and last step of the head's pass alone
    epoch_losses: list[float]  # mean MLM loss per epoch
    seconds: float


def adapt_new_tokens(
    model_dir: str | os.PathLike, texts: list[str], new_token_ids: list[int], epochs: int, seed: int = 0
) -> AdaptSummary:
    """Train the model in `model_dir` with masked-language modelling on `texts` for `epochs`; saved in place."""
    import torch
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

    if not texts:
        raise WMEmbError("expand adaptation: no passages to train on; check the training nodes")
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = load_sentence_model(model_dir).model
    transformer = model[0]
    encoder, tokenizer = transformer.auto_model, transformer.tokenizer
    # The MLM model shares the sentence model's encoder, so training it trains what gets saved.
    mlm = AutoModelForMaskedLM.from_config(encoder.config).to(encoder.device)
    setattr(mlm, mlm.base_model_prefix, encoder)
    mlm.get_output_embeddings().weight = encoder.get_input_embeddings().weight  # tied: every target trains the row
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM_PROBABILITY, seed=seed)
    encoded = tokenizer(texts, truncation=True, max_length=transformer.max_seq_length, return_special_tokens_mask=True)
    examples = [{key: encoded[key][index] for key in encoded} for index in range(len(texts))]
    new_ids = torch.tensor(sorted(new_token_ids), device=encoder.device)
    generator = torch.Generator().manual_seed(seed)
    summary = AdaptSummary(len(texts), epochs, 0, 0, (0.0, 0.0), [], 0.0)

    def one_pass(optimizer, description: str) -> tuple[list[float], int]:
        """One pass over the texts in a new order: the loss per step, and the new tokens that were targets."""
        losses, new_token_targets = [], 0
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in tqdm(range(0, len(order), BATCH_SIZE), desc=description, unit="batch"):
            batch = collator([examples[index] for index in order[start : start + BATCH_SIZE]])
            batch = {key: value.to(encoder.device) for key, value in batch.items()}
            new_token_targets += _mask_more(batch, new_ids, tokenizer.mask_token_id, generator)
            loss = mlm(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
        return losses, new_token_targets

    mlm.train()
    encoder.requires_grad_(False)  # the tied output embeddings too: only the head's own layers learn here
    losses, _ = one_pass(
        torch.optim.AdamW([p for p in mlm.parameters() if p.requires_grad], lr=HEAD_LEARNING_RATE), "adapt: head"
    )
    summary.head_losses = (round(losses[0], 4), round(losses[-1], 4))
    encoder.requires_grad_(True)
    log.info("expand: adaptation head trained alone, MLM loss %.4f -> %.4f", *summary.head_losses)
    optimizer = torch.optim.AdamW(mlm.parameters(), lr=LEARNING_RATE)
    for epoch in range(epochs):
        losses, new_token_targets = one_pass(optimizer, f"adapt: epoch {epoch + 1}/{epochs}")
        summary.steps += len(losses)
        summary.new_token_targets += new_token_targets
        summary.epoch_losses.append(round(sum(losses) / len(losses), 4))
        log.info("expand: adaptation epoch %d/%d, MLM loss %.4f", epoch + 1, epochs, summary.epoch_losses[-1])
    with atomic_dir(model_dir, overwrite=True, needed=folder_size(model_dir)) as folder:
        model.save(str(folder))
    summary.seconds = round(time.perf_counter() - started, 1)
    return summary


def _mask_more(batch: dict, new_ids, mask_token_id: int, generator) -> int:
    """Mask unmasked new-term tokens too, up to NEW_TOKEN_MASK_PROBABILITY; returns the new tokens now targets."""
    import torch

    input_ids, labels = batch["input_ids"], batch["labels"]
    draw = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    # the collator already masked MLM_PROBABILITY of them: top up to the higher share
    extra = (NEW_TOKEN_MASK_PROBABILITY - MLM_PROBABILITY) / (1 - MLM_PROBABILITY)
    more = torch.isin(input_ids, new_ids) & (labels == -100) & (draw < extra)
    labels[more] = input_ids[more]
    input_ids[more] = mask_token_id
    return int(torch.isin(labels, new_ids).sum())
