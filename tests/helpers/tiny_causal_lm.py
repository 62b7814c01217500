"""A tiny causal LM that writes English whatever it is asked: a stand-in for an English-only model such as
the embedded SmolLM2, to test what prepare does with its replies to Chinese passages."""

from __future__ import annotations

from pathlib import Path

ENGLISH_WORDS = (
    "what how why which does the a of cell cells bacteria wall spore membrane protein is are do can "
    "in to and for with heat survive grow divide virus host"
).split()


def build_english_causal_lm(folder: Path, seed: int = 0) -> Path:
    """A Hugging Face causal-LM folder (one-layer Llama, random weights, a word-level tokenizer of English
    words): its greedy replies are English words and question marks, never an empty reply."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {token: index for index, token in enumerate(specials + ENGLISH_WORDS + ["?"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=vocab["[PAD]"],
        bos_token_id=vocab["[BOS]"],
        eos_token_id=vocab["[EOS]"],
    )
    model = LlamaForCausalLM(config)
    # special tokens are never written: every reply is English words to its last token
    model.generation_config = GenerationConfig(
        eos_token_id=vocab["[EOS]"], pad_token_id=vocab["[PAD]"], suppress_tokens=[vocab[t] for t in specials]
    )
    model.save_pretrained(folder)
    return folder
