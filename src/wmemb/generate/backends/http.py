"""LLM servers over HTTP: `OpenAIBackend` (any OpenAI-compatible chat-completions server: vLLM, llama.cpp,
LM Studio, hosted APIs) and `OllamaBackend` (Ollama's native `/api/chat`). Several base URLs share the load:
each request goes to the URL with the fewest in flight, among those that did not just fail."""

from __future__ import annotations

import email.utils
import logging
import os
import time
from dataclasses import replace

import httpx

from wmemb.errors import WMEmbError
from wmemb.generate.backends import BackendOptions, Completion, MalformedReply, RequestError, RetryableError
from wmemb.generate.parse import is_answer

log = logging.getLogger(__name__)

OLLAMA_URL = "http://localhost:11434"
OLLAMA_DEFAULT_MODEL = "qwen:14b"
# After a transient failure (refused, 5xx, 429, timeout, malformed) a server gets no request for this long (or its
# Retry-After) while another one can take it: a server that is down fails at once, so with the fewest requests in
# flight it would otherwise draw every retry and fail passages the others would have answered.
REST_SECONDS = 5.0


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
    default_max_tokens: int | None = None  # the server's own

    def __init__(self, base_urls: list[str], model: str | None, timeout: float, api_key: str | None = None):
        if not base_urls:
            raise WMEmbError(f"--llm {self.name} needs a server address; pass --base-url URL")
        self.base_urls = [url.rstrip("/") for url in base_urls]
        self.model = model or ""
        self.in_flight = dict.fromkeys(self.base_urls, 0)
        self.resting_until = dict.fromkeys(self.base_urls, 0.0)  # time.monotonic() after its last failure
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One client (connection pool) per server: httpcore's pool scans its connections for each connection on
        # every request, so one pool of all servers' connections cost ~1,000 checks a request at 32 in flight
        # (a third of prepare's CPU over 3 servers); per server that is divided by the servers squared.
        self.clients = {
            url: httpx.AsyncClient(
                timeout=httpx.Timeout(timeout),
                headers=headers,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
                # plain-http servers (local ones) need no CA certificates, whose loading takes ~80 ms
                verify=url.startswith("https:"),
            )
            for url in self.base_urls
        }

    @classmethod
    def create(cls, options: BackendOptions) -> HTTPBackend:
        api_key = os.environ.get(options.api_key_env) if options.api_key_env else None
        return cls(list(options.base_urls), options.model, options.timeout, api_key)

    async def start(self) -> None:
        """Check that every server answers (and serves the model); a one-line error names the fix."""
        for url in self.base_urls:
            try:
                response = await self.clients[url].get(self.probe_url(url), timeout=5.0)
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
        log.info("LLM backend: %s, model %s at %s", self.name, self.model, ", ".join(self.base_urls))

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

    def pick_server(self) -> str:
        """The least busy server, preferring those not resting after a failure."""
        now = time.monotonic()
        return min(self.base_urls, key=lambda url: (self.resting_until[url] > now, self.in_flight[url]))

    async def complete(
        self, prompt: str, json_mode: bool = False, max_tokens: int | None = None, temperature: float | None = None
    ) -> Completion:
        base_url = self.pick_server()
        try:
            return await self._complete_at(base_url, prompt, json_mode, max_tokens, temperature)
        except RetryableError as exc:
            self.resting_until[base_url] = time.monotonic() + max(REST_SECONDS, exc.retry_after or 0.0)
            raise

    async def _complete_at(
        self, base_url: str, prompt: str, json_mode: bool, max_tokens: int | None, temperature: float | None
    ) -> Completion:
        url, payload = self.request(base_url, prompt, json_mode, max_tokens, temperature)
        self.in_flight[base_url] += 1
        try:
            response = await self.clients[base_url].post(url, json=payload)
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
        for client in self.clients.values():
            await client.aclose()


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

    @classmethod
    def create(cls, options: BackendOptions) -> HTTPBackend:
        """Ollama at $OLLAMA_HOST or its default address unless a base URL is given, with model qwen:14b unless one
        is named."""
        return super().create(
            replace(
                options, base_urls=options.base_urls or (ollama_url(),), model=options.model or OLLAMA_DEFAULT_MODEL
            )
        )

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


def ollama_url() -> str:
    """Ollama's address: $OLLAMA_HOST as the ollama CLI reads it ("host:port" or a URL), else localhost."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return OLLAMA_URL
    return host if "://" in host else f"http://{host}"
