"""The backends' registry (generate/backends) and the drop reasons (generate/reasons.py): names declared once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from wmemb.errors import WMEmbError
from wmemb.generate.backends import (
    LLM_CHOICES,
    REGISTRY,
    BackendOptions,
    Completion,
    backend_class,
    open_backend,
)
from wmemb.generate.reasons import SET_ASIDE_REASONS, DropReason
from wmemb.report.funnel import DROP_REASONS
from wmemb.settings import SETTINGS


def test_the_llm_setting_offers_auto_and_every_registered_backend():
    assert SETTINGS["llm"].choices == LLM_CHOICES == ("auto", "openai", "ollama", "local")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registry_entry_is_a_backend_of_that_name(name):
    cls = backend_class(name)
    assert cls.name == name
    for method in ("create", "start", "complete", "close"):
        assert callable(getattr(cls, method)), method


def test_an_unknown_backend_is_one_error_naming_the_choices():
    with pytest.raises(WMEmbError, match="--llm gpt: unknown backend; choose one of auto, openai, ollama, local"):
        asyncio.run(open_backend("gpt", BackendOptions()))


class Echo:
    """A backend defined outside the package: one class, one registry entry."""

    name = "echo"
    default_max_tokens = None
    started: list[str] = []

    def __init__(self, model: str):
        self.model = model

    @classmethod
    def create(cls, options: BackendOptions) -> Echo:
        return cls(options.model or "echo-1")

    async def start(self) -> None:
        if self.model == "down":
            raise WMEmbError("echo is down")
        Echo.started.append(self.model)

    async def complete(self, prompt, json_mode=False, max_tokens=None, temperature=None) -> Completion:
        return Completion(f"{prompt}?")

    async def close(self) -> None:
        pass


def test_a_backend_is_added_by_one_registry_entry(monkeypatch):
    monkeypatch.setitem(REGISTRY, "echo", f"{__name__}:Echo")

    async def ask() -> str:
        backend = await open_backend("echo", BackendOptions(model="e2"))
        try:
            return (await backend.complete("why")).text
        finally:
            await backend.close()

    assert asyncio.run(ask()) == "why?"


class EchoServer(Echo):
    name = "openai"


class EchoLocal(Echo):
    name = "local"


def test_auto_falls_back_without_the_servers_model_name(monkeypatch, caplog):
    monkeypatch.setitem(REGISTRY, "openai", f"{__name__}:EchoServer")
    monkeypatch.setitem(REGISTRY, "local", f"{__name__}:EchoLocal")
    monkeypatch.setattr(Echo, "started", [])

    def opened(**options) -> tuple[str, str]:
        backend = asyncio.run(open_backend("auto", BackendOptions(**options)))
        return backend.name, backend.model

    assert opened(base_urls=("http://a",), model="m") == ("openai", "m")  # the server answers: it is used
    assert opened(base_urls=("http://a",), model="down") == ("local", "echo-1")  # not the server's model name
    assert Echo.started == ["m", "echo-1"]
    assert "auto: echo is down; using the local LLM instead" in caplog.text


def test_reading_the_settings_loads_no_backend():
    """The settings derive the llm choices from the registry without importing a backend's libraries (the CLI
    reads the stage option classes, prepare's included, for its flags; those import no backend either)."""
    code = (
        "import sys, wmemb.settings, wmemb.cli\n"
        "print([m for m in ('httpx', 'torch', 'transformers', 'llama_cpp') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_drop_reasons_are_written_as_their_plain_names():
    assert [reason.value for reason in DropReason] == [
        "preamble",
        "answer",
        "markup",
        "cut_off",
        "not_question",
        "not_keywords",
        "has_markup",
        "wrong_language",
        "too_short",
        "too_long",
        "copied_span",
        "duplicate",
        "extra",
        "inconsistent",
    ]  # on disk in *_dropped.jsonl and state.json: renaming one breaks reading earlier runs
    record = {"reason": DropReason.CUT_OFF, "dropped": {DropReason.TOO_SHORT: 2}}
    assert json.dumps(record) == '{"reason": "cut_off", "dropped": {"too_short": 2}}'
    assert f"{DropReason.TOO_SHORT} {DropReason.TOO_SHORT!s}" == "too_short too_short"
    assert DropReason("duplicate") is DropReason.DUPLICATE == "duplicate"
    assert SET_ASIDE_REASONS == {"preamble", "answer", "markup", "cut_off"}
    assert set(DROP_REASONS) == {reason.value for reason in DropReason} and all(DROP_REASONS.values())
