"""The `local` backend on the real SmolLM2-135M GGUF (loaded once per test session, ~16-40 s)."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import weakref

import pytest

from helpers.prepare_inputs import EN_PASSAGES, write_node_files
from helpers.tiny_causal_lm import build_english_causal_lm
from wmemb.generate import PrepareOptions, prepare_datasets
from wmemb.generate.backends.local import LocalBackend, generate_batch, load_causal_lm, smollm2_gguf
from wmemb.generate.filters import is_question, units
from wmemb.generate.prompts import PromptSet
from wmemb.records import QADataset

pytestmark = pytest.mark.slow  # end to end

STOPWORDS = set(
    "the a an of and to in is are for on with as by that this what which how why who when where does do "
    "can be it its from or at was were has have their there about".split()
)


@pytest.fixture(scope="module")
def smollm2():
    """(tokenizer, model) of SmolLM2, shared with every LocalBackend in this process.

    One torch thread while these tests run: on a machine shared with other jobs, two spinning
    OpenMP threads made generation ~15x slower (47 s vs 2.6 s for 8 tokens); restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_causal_lm(str(smollm2_gguf()))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_run(smollm2, tmp_path_factory):
    """One `prepare --llm local` run on 4 English passages (3 train, 1 val)."""
    folder = tmp_path_factory.mktemp("local")
    train, val = write_node_files(folder / "nodes", EN_PASSAGES[:3], EN_PASSAGES[3:4])
    summary = prepare_datasets(train, val, folder / "out", PrepareOptions(llm="local", concurrency=4))
    return summary, train, val, folder / "out"


def test_local_dataset_is_valid_and_tied_to_passages(local_run):
    summary, _, _, out = local_run
    assert summary.backend == "local" and summary.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert summary.train.failed == 0 and summary.train.generated == 3 and summary.train.completion_tokens > 0
    for split in ("train", "val"):
        dataset = QADataset.load(out / f"book_{split}_dataset.json")
        assert dataset.queries, split
        for qid, query in dataset.queries.items():
            passage = dataset.corpus[dataset.relevant_docs[qid][0]]
            assert query.strip() and is_question(query), query
            content = {u for u in units(query) if u not in STOPWORDS and not re.fullmatch(r"\d+", u)}
            assert content & set(units(passage)), f"{query!r} shares no word with its passage"
    assert summary.train.queries >= 3  # at least one clean question per passage on average


def test_auto_falls_back_to_local_when_the_server_is_down(local_run, tmp_path, caplog):
    _, train, val, out = local_run
    shutil.copytree(out, tmp_path / "out")
    with caplog.at_level(logging.INFO, logger="wmemb"):
        summary = prepare_datasets(
            train, val, tmp_path / "out", PrepareOptions(llm="auto", base_urls=["http://127.0.0.1:9"])
        )
    assert summary.backend == "local"
    assert summary.train.reused == 3 and summary.train.generated == 0  # same model: every reply came from the cache
    assert any(
        "does not answer" in r.message and "local" in r.message for r in caplog.records if r.levelno == logging.WARNING
    )


def test_concurrent_requests_are_generated_as_one_batch(smollm2):
    prompts = [f"Write one question about: {text}" for text in EN_PASSAGES[:3]]

    async def run():
        backend = LocalBackend(batch_size=8, default_max_tokens=16)
        await backend.start()
        try:
            return await asyncio.gather(*(backend.complete(p) for p in prompts)), backend.batch_sizes
        finally:
            await backend.close()

    completions, batch_sizes = asyncio.run(run())
    assert batch_sizes == [3]
    batched = generate_batch(smollm2.tokenizer, smollm2.model, prompts, max_new_tokens=16)
    assert [c.text for c in completions] == [c.text for c in batched]
    assert all(0 < c.completion_tokens <= 16 and c.prompt_tokens > 10 for c in completions)


def test_generation_stops_once_the_questions_are_written(smollm2):
    """Greedy decoding: the early-stopped reply is the full reply cut right after its question line
    (asked for 2 questions, stopped after 1, so that every reply is cut)."""
    prompts = [PromptSet.builtin().render(text, 2)[2] for text in EN_PASSAGES[:2]]
    full = generate_batch(smollm2.tokenizer, smollm2.model, prompts, max_new_tokens=64)
    stopped = generate_batch(smollm2.tokenizer, smollm2.model, prompts, max_new_tokens=64, stop_after_questions=1)
    for whole, cut in zip(full, stopped):
        assert whole.text.startswith(cut.text) and cut.completion_tokens < whole.completion_tokens
        assert cut.text.endswith("\n") and sum("?" in line for line in cut.text.split("\n")) == 1


def test_the_model_is_shared_while_held_and_freed_when_the_last_backend_closes(tmp_path):
    """`wmemb run` fine-tunes in the same process after prepare: a closed backend must not keep its LLM alive."""
    build_english_causal_lm(tmp_path)  # a tiny random LLM: loading it is what is tested

    async def run():
        held = load_causal_lm(str(tmp_path))
        backend = LocalBackend(tmp_path)
        await backend.start()
        assert load_causal_lm(str(tmp_path)) is held  # one copy for every user in the process
        model = weakref.ref(held.model)
        del held
        assert model() is not None  # the open backend still holds it
        await backend.close()
        return model

    assert asyncio.run(run())() is None
