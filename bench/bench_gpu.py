"""GPU figures: fine-tuning throughput (wmemb vs a plain sentence-transformers Trainer), where a step's
time goes, evaluation throughput, and local generation on the GPU vs the CPU.

    python bench/bench_gpu.py [--pairs 4096] [--batches 32,128] [--passage-tokens 256]

Data: pairs from the English sample corpus (see bench_finetune.py), each passage extended with the
following paragraphs to `--passage-tokens` tokens, so every batch has the same shape a real
256-token chunking gives. Runs on the CPU too (small `--pairs`), which is how the script is tested.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench_finetune import PLAIN_SCRIPT, run_measured, wmemb_finetune

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "sample" / "debian-reference-en-ch1-2.txt"
QUERY_TOKENS = 28  # queries are short: BGE's recipes cap them at 32 tokens
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0}
# SmolLM2-135M-Instruct's architecture (its GGUF is too large to carry to the GPU machine; random
# weights generate at the same speed).
SMOLLM2_CONFIG = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    tie_word_embeddings=True,
)


def build_pairs(tokenizer, count: int, passage_tokens: int) -> dict:
    """llama_index JSON: query = a paragraph's first sentence, passage = the rest plus what follows."""
    import re

    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", CORPUS.read_text(encoding="utf-8"))]
    paragraphs = [p for p in paragraphs if len(p) >= 80]
    queries, corpus = {}, {}
    for i in range(count):
        first, _, rest = paragraphs[i % len(paragraphs)].partition(". ")
        passage, j = rest, i + 1
        while len(tokenizer(passage)["input_ids"]) < passage_tokens:
            passage += " " + paragraphs[j % len(paragraphs)]
            j += 1
        ids = tokenizer(passage, add_special_tokens=False)["input_ids"][: passage_tokens - 2]
        query = tokenizer.decode(tokenizer(first, add_special_tokens=False)["input_ids"][:QUERY_TOKENS])
        queries[f"q{i}"] = f"{query} ({i})"  # distinct queries even when paragraphs repeat
        corpus[f"d{i}"] = f"[{i}] " + tokenizer.decode(ids)
    relevant = {f"q{i}": [f"d{i}"] for i in range(count)}
    return {"queries": queries, "corpus": corpus, "relevant_docs": relevant, "mode": "text"}


def nonembedding_parameters(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


def train_flops_per_pair(model, query_tokens: int, passage_tokens: int) -> float:
    """6 x parameters x tokens (forward + backward) plus attention scores, for query and passage."""
    config = model[0].auto_model.config
    flops = 0.0
    for tokens in (query_tokens, passage_tokens):
        flops += (
            6 * nonembedding_parameters(model) * tokens + 12 * config.num_hidden_layers * tokens**2 * config.hidden_size
        )
    return flops


def step_breakdown(model_path: str, data: dict, batch: int, device: str) -> dict[str, float]:
    """Seconds per step of each part of a training step, measured apart (synchronised on CUDA)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(model_path, device=device)
    model.max_seq_length = 256
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    queries = list(data["queries"].values())[:batch]
    passages = list(data["corpus"].values())[:batch]
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    timings = {"tokenize+collate": 0.0, "forward+loss": 0.0, "backward": 0.0, "optimizer": 0.0}
    steps = 10
    for step in range(steps + 2):  # two warm-up steps
        started = time.perf_counter()
        features = [model.tokenize(queries), model.tokenize(passages)]
        features = [{k: v.to(device) if hasattr(v, "to") else v for k, v in f.items()} for f in features]
        sync()
        t1 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
            loss = loss_fn(features, None)
        sync()
        t2 = time.perf_counter()
        loss.backward()
        sync()
        t3 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        t4 = time.perf_counter()
        if step >= 2:
            for key, seconds in zip(timings, (t1 - started, t2 - t1, t3 - t2, t4 - t3)):
                timings[key] += seconds / steps
    return timings


def local_generation_tokens_per_second(device: str, batch: int = 8, new_tokens: int = 128) -> float:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_CONFIG)).to(device=device, dtype=dtype).eval()
    prompt = torch.randint(1, SMOLLM2_CONFIG["vocab_size"], (batch, 200), device=device)
    inputs = {"input_ids": prompt, "attention_mask": torch.ones_like(prompt), "pad_token_id": 0, "do_sample": False}
    with torch.no_grad():
        model.generate(**inputs, max_new_tokens=8, min_new_tokens=8)  # warm-up
        started = time.perf_counter()
        model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
        seconds = time.perf_counter() - started
    return batch * new_tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4096)
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--passage-tokens", type=int, default=256)
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from wmemb.models import resolve_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    peak = next((tflops for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)
    model_path = str(resolve_model(None))
    model = SentenceTransformer(model_path, device="cpu")
    data = build_pairs(model.tokenizer, args.pairs, args.passage_tokens)
    query_tokens = sum(len(model.tokenizer(q)["input_ids"]) for q in data["queries"].values()) / args.pairs
    flops = train_flops_per_pair(model, round(query_tokens), args.passage_tokens)
    print(
        f"device: {name}; MiniLM; {args.pairs} pairs, "
        f"passages {args.passage_tokens} tokens, queries ~{query_tokens:.0f}"
    )
    results: dict = {"device": name, "pairs": args.pairs, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = folder / "train.json"
        train.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        for batch in [int(b) for b in args.batches.split(",")]:
            _, _, log = wmemb_finetune(
                model_path, folder / f"wm{batch}", train, "--epochs", "1", "--batch-size", str(batch)
            )
            wm = log["train_samples_per_second"]
            command = [sys.executable, "-c", PLAIN_SCRIPT, model_path, str(train), str(folder / f"plain{batch}")]
            _, _, stdout = run_measured(command + [str(batch), "3e-5", "20", "1"])
            plain = json.loads(stdout.split("RESULT", 1)[1])["samples_per_second"]
            achieved = wm * flops / 1e12
            share = f", {achieved / peak:.1%} of the bf16 peak {peak:.0f} TFLOPS" if peak and device == "cuda" else ""
            breakdown = step_breakdown(model_path, data, batch, device)
            step = sum(breakdown.values())
            print(f"batch {batch}: wmemb {wm:.1f} pairs/s, plain Trainer {plain:.1f} pairs/s, ratio {wm / plain:.3f}")
            print(f"  {achieved:.2f} TFLOPS achieved{share}")
            print(
                f"  one step by hand: {batch / step:.0f} pairs/s; "
                + ", ".join(
                    f"{part} {seconds * 1e3:.1f} ms ({seconds / step:.0%})" for part, seconds in breakdown.items()
                )
            )
            results["runs"][batch] = {"wmemb": wm, "plain": plain, "tflops": achieved, "step_ms": breakdown}
    texts = list(data["corpus"].values())[:2048]
    encoder = SentenceTransformer(model_path, device=device)
    started = time.perf_counter()
    encoder.encode(texts, batch_size=128)
    results["encode_texts_per_second"] = len(texts) / (time.perf_counter() - started)
    print(f"encode ({args.passage_tokens}-token passages, batch 128): {results['encode_texts_per_second']:.0f} texts/s")
    if not args.skip_generation:
        for where in dict.fromkeys([device, "cpu"]):
            rate = local_generation_tokens_per_second(where)
            results[f"generation_tokens_per_second_{where}"] = rate
            print(f"local generation, SmolLM2-135M architecture, batch 8, on {where}: {rate:.0f} tokens/s")
    print("RESULT", json.dumps(results))


if __name__ == "__main__":
    main()
