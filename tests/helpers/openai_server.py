"""A real local HTTP server speaking the OpenAI chat-completions protocol (and Ollama's chat API),
with injectable faults. For tests and benchmarks:

    from helpers.openai_server import openai_server, Fault

    with openai_server(delay=0.2) as server:          # every reply after 200 ms
        server.faults.extend([Fault.rate_limit(retry_after=1), Fault.server_error()])  # next two requests
        run_client(server.base_url)                   # http://127.0.0.1:PORT/v1
        assert len(server.requests) == 3

- `reply(prompt: str) -> str | Fault`: what the model "writes" for a user message (default:
  `default_reply`, two questions quoting the passage's first words); return a Fault to fail a
  particular prompt every time.
- `server.faults`: a FIFO of Faults applied to the next chat requests, one each.
- `server.requests`: one `Request(path, prompt, body, time, fault)` per request, in arrival order.
- Endpoints: GET /v1/models, POST /v1/chat/completions, GET /api/tags, POST /api/chat.
- `record(request)`: where each request goes (default: appended to `server.requests`); a long benchmark
  run passes one that writes a line instead of holding every prompt in memory.
- `python tests/helpers/openai_server.py --delay 0.2 [--request-log FILE]` runs it as a separate process
  (prints the base URL); `--request-log` appends `<unix time>\t<prompt sha1>` per chat request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    kind: str  # "rate_limit" | "server_error" | "slow" | "malformed" | "no_choices" | "html" | "drop"
    status: int = 0
    retry_after: str | None = None
    seconds: float = 0.0

    @classmethod
    def rate_limit(cls, retry_after: float | str | None = 1) -> Fault:
        return cls("rate_limit", 429, None if retry_after is None else str(retry_after))

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer correctly, but only after `seconds` (longer than the client's timeout to test it)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed", 200)

    @classmethod
    def no_choices(cls) -> Fault:
        """HTTP 200 with a well-formed body whose `choices` list is empty."""
        return cls("no_choices", 200)

    @classmethod
    def html(cls) -> Fault:
        """HTTP 200 with an HTML page, as a web server at a wrong --base-url sends."""
        return cls("html", 200)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without any reply."""
        return cls("drop")


@dataclass
class Request:
    path: str
    prompt: str
    body: dict
    time: float
    fault: Fault | None


def default_reply(prompt: str) -> str:
    """Two numbered questions about the passage inside the prompt, with a preamble to parse away."""
    match = re.search(r"(?:Context:|材料：)\s*\n(.*?)\n\n", prompt, re.S)
    passage = (match.group(1) if match else prompt).strip()
    if re.search(r"[\u4e00-\u9fff]", passage):
        head = passage[:6]
        return f"以下是两个问题：\n问题1：“{head}”指的是什么？\n问题2：材料中关于{head}的说法有哪些要点？"
    words = " ".join(passage.split()[:6])
    return f"Here are two questions:\n1. What does the text say about {words}?\n2. Why does {words} matter?"


@dataclass
class FakeLLMServer:
    reply: Callable[[str], str | Fault]
    delay: float = 0.0
    model: str = "test-model"
    faults: deque = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""  # OpenAI style, ends in /v1
    root_url: str = ""  # Ollama style
    lock: threading.Lock = field(default_factory=threading.Lock)
    record: Callable[[Request], None] | None = None  # None: append to `requests`

    def add(self, request: Request) -> None:
        with self.lock:
            (self.record or self.requests.append)(request)

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path in ("/v1/chat/completions", "/api/chat")]


def _handler(server: FakeLLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: without this, ~40 ms stalls

        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            server.add(Request(self.path, "", {}, time.monotonic(), None))
            if self.path == "/v1/models":
                self._send(
                    200, json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]}).encode()
                )
            elif self.path == "/api/tags":
                self._send(200, json.dumps({"models": [{"name": server.model}]}).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            prompt = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
            with server.lock:
                fault = server.faults.popleft() if server.faults else None
            answer = server.reply(prompt)
            if fault is None and isinstance(answer, Fault):
                fault = answer
            server.add(Request(self.path, prompt, body, time.monotonic(), fault))
            if self.path not in ("/v1/chat/completions", "/api/chat"):
                return self._send(404, b'{"error": {"message": "unknown endpoint"}}')
            if body.get("model") != server.model:
                return self._send(
                    404, json.dumps({"error": {"message": f"model '{body.get('model')}' not found"}}).encode()
                )
            time.sleep(server.delay + (fault.seconds if fault else 0.0))
            if fault and fault.kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault and fault.kind in ("rate_limit", "server_error"):
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._send(fault.status, b'{"error": {"message": "injected fault"}}', headers)
            if fault and fault.kind == "malformed":
                return self._send(200, b'{"choices": [{"message": {"content": "trunc')
            if fault and fault.kind == "no_choices":
                return self._send(200, b'{"id": "chatcmpl-test", "object": "chat.completion", "choices": []}')
            if fault and fault.kind == "html":
                page = b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
                return self._send(200, page, content_type="text/html; charset=utf-8")
            text = answer if isinstance(answer, str) else ""
            tokens = {"prompt": len(prompt.split()), "completion": len(text.split())}
            if self.path == "/api/chat":
                reply = {
                    "model": server.model,
                    "message": {"role": "assistant", "content": text},
                    "done": True,
                    "prompt_eval_count": tokens["prompt"],
                    "eval_count": tokens["completion"],
                }
            else:
                reply = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": server.model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": tokens["prompt"],
                        "completion_tokens": tokens["completion"],
                        "total_tokens": tokens["prompt"] + tokens["completion"],
                    },
                }
            self._send(200, json.dumps(reply, ensure_ascii=False).encode("utf-8"))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a benchmark opens many connections at once

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed client is not the server's error
            super().handle_error(request, client_address)


@contextlib.contextmanager
def openai_server(
    reply: Callable[[str], str | Fault] = default_reply,
    delay: float = 0.0,
    model: str = "test-model",
    port: int = 0,
    record: Callable[[Request], None] | None = None,
) -> Iterator[FakeLLMServer]:
    """Start the server on a local port (0: any free one) in a background thread; stop it on exit."""
    state = FakeLLMServer(reply=reply, delay=delay, model=model, record=record)
    httpd = _Server(("127.0.0.1", port), _handler(state))
    state.root_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.base_url = f"{state.root_url}/v1"
    thread = threading.Thread(target=httpd.serve_forever, name="fake-llm-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def main() -> None:
    """Run the server in its own process (as a real server would be): prints its base URL, then
    serves until stdin closes or the process is terminated."""
    import argparse

    parser = argparse.ArgumentParser(description="Local OpenAI-compatible test server.")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every reply")
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log", help="append `<unix time>\\t<prompt sha1>` per chat request to this file")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        record = None
        if args.request_log:
            # line-buffered: a reader sees every request already answered, also after the client was killed
            log = stack.enter_context(open(args.request_log, "a", encoding="utf-8", buffering=1))

            def record(request: Request) -> None:
                if request.prompt:
                    log.write(f"{time.time():.6f}\t{hashlib.sha1(request.prompt.encode()).hexdigest()}\n")

        server = stack.enter_context(openai_server(delay=args.delay, model=args.model, port=args.port, record=record))
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
