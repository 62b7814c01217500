"""Questions in another language than their passage: dropped and counted (`wrong_language`), and a model that
answers most of the first replies to one language's passages in another stops prepare with the fix."""

from __future__ import annotations

import json

import pytest

from helpers.openai_server import default_reply, openai_server
from helpers.pipeline_inputs import ZH_FACTS
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from helpers.tiny_causal_lm import build_english_causal_lm
from wmemb.errors import WMEmbError
from wmemb.generate import PrepareOptions, prepare_datasets
from wmemb.generate.filters import QueryFilter
from wmemb.records import QADataset
from wmemb.report.funnel import DROP_REASONS

# more Chinese passages than one language sample, each distinct
ZH_MANY = [f"第{i}节。{ZH_FACTS[i % len(ZH_FACTS)]}{ZH_FACTS[(i + 5) % len(ZH_FACTS)]}" for i in range(12)]
SPANISH = "1. ¿Qué hace la herramienta descrita en el texto?\n2. ¿Para qué sirve el archivo de la lista?"
RUSSIAN = "1. Что делает эта программа?\n2. Где хранится список источников?"


def test_the_filter_drops_questions_not_in_their_passage_language():
    english, chinese = EN_PASSAGES[0], ZH_PASSAGES[0]
    questions = ["What does apt install from the repositories?", "¿Qué instala la herramienta apt?", "Что делает apt?"]
    kept, dropped = QueryFilter().keep(questions, english)
    assert kept == questions[:1]
    assert dropped == [(questions[1], "wrong_language"), (questions[2], "wrong_language")]

    kept, dropped = QueryFilter().keep(
        ["What color does the cell wall turn?", "革兰氏阳性菌的细胞壁由什么构成？"], chinese
    )
    assert kept == ["革兰氏阳性菌的细胞壁由什么构成？"]
    assert dropped == [("What color does the cell wall turn?", "wrong_language")]
    # a question with no function word of either kind counts as English; unchecked when told so
    assert QueryFilter().keep(["Explain apt-get sources.list syntax?"], english)[0] == [
        "Explain apt-get sources.list syntax?"
    ]
    assert QueryFilter().keep(questions, english, check_language=False)[0] == questions
    assert "wrong_language" in DROP_REASONS


def some_in_spanish(prompt: str) -> str:
    """The default reply, in Spanish for the passage about the root account (one of six English passages)."""
    return SPANISH if "root account" in prompt else default_reply(prompt)


def test_a_minority_of_replies_in_another_language_is_dropped_and_counted(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:5] + ZH_PASSAGES[:1], EN_PASSAGES[5:])
    out = tmp_path / "out"
    with openai_server(reply=some_in_spanish) as server:
        summary = prepare_datasets(train, val, out, fast_options(server))
    assert summary.train.dropped.get("wrong_language") == 2
    assert summary.train.by_language["en"]["queries"] == 8  # 4 English passages x 2; none of the Spanish ones
    assert summary.train.by_language["en"]["dropped"]["wrong_language"] == 2
    dataset = QADataset.load(out / "book_train_dataset.json")
    assert not any("¿" in question for question in dataset.queries.values())
    lines = [json.loads(line) for line in (out / "book_train_dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["query"] for d in lines if d["reason"] == "wrong_language"] == [
        "¿Qué hace la herramienta descrita en el texto?",
        "¿Para qué sirve el archivo de la lista?",
    ]


def always_english(prompt: str) -> str:
    return "Here are two questions:\n1. What is this passage about?\n2. Why does it matter?"


def test_a_server_that_answers_chinese_passages_in_english_stops_prepare_with_the_fix(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", ZH_MANY, ZH_PASSAGES[:2])
    with openai_server(reply=always_english, model="llama3") as server:
        with pytest.raises(WMEmbError) as error:
            prepare_datasets(train, val, tmp_path / "out", fast_options(server, concurrency=2))
        asked = len(server.chat_requests())
    message = str(error.value)
    assert "\n" not in message
    assert "8 of the first 8 replies to Chinese passages are not in Chinese" in message
    assert "(English 8; e.g. 'Here are two questions: 1. What is this passage about?" in message
    assert "the openai model llama3 does not write Chinese, so prepare stopped" in message
    assert "ollama pull qwen2.5:7b && wmemb run ... --llm ollama --llm-model qwen2.5:7b" in message
    assert "--llm openai --base-url http://host:8000/v1 --llm-model Qwen2.5-7B-Instruct" in message
    assert asked < len(ZH_MANY) + 2  # stopped after the first replies, not after asking about every passage


def test_english_passages_answered_in_russian_stop_prepare(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:4], EN_PASSAGES[4:])
    with openai_server(reply=lambda prompt: RUSSIAN) as server:
        with pytest.raises(
            WMEmbError, match=r"6 of the first 6 replies to English passages are not in English \(Cyrillic script 6"
        ):
            prepare_datasets(train, val, tmp_path / "out", fast_options(server))


def test_a_few_replies_in_the_wrong_language_do_not_stop_prepare(tmp_path):
    """3 of the first 8 replies to Chinese passages in English: not most, so the run goes on and drops them."""
    english_for = set(ZH_MANY[:3])

    def reply(prompt: str) -> str:
        return always_english(prompt) if any(p in prompt for p in english_for) else default_reply(prompt)

    train, val = write_node_files(tmp_path / "nodes", ZH_MANY, ZH_PASSAGES[:2])
    with openai_server(reply=reply) as server:
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, concurrency=1))
    assert summary.train.dropped["wrong_language"] == 6 and summary.train.by_language["zh"]["queries"] == 18


def test_a_custom_prompt_decides_the_language_itself(tmp_path):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("Context:\n{context_str}\n\nWrite {num_questions_per_chunk} English questions.", "utf-8")
    train, val = write_node_files(tmp_path / "nodes", ZH_MANY[:9], ZH_MANY[9:])

    def english(prompt: str) -> str:
        section = prompt.split("第", 1)[1][:3]  # 第N节: distinct questions per passage
        return f"1. What does section {section} say about spores?\n2. Which wall does section {section} name?"

    with openai_server(reply=english) as server:
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, prompt_file=str(prompt_file)))
    assert "wrong_language" not in summary.train.dropped and summary.train.queries == 18


def test_the_local_backend_with_an_english_only_model_stops_on_chinese_passages(tmp_path):
    """An English-only causal LM as `--llm local --model` (as the embedded SmolLM2 is) on Chinese passages."""
    model = build_english_causal_lm(tmp_path / "english-lm")
    train, val = write_node_files(tmp_path / "nodes", ZH_MANY, ZH_PASSAGES[:2])
    options = PrepareOptions(llm="local", model=str(model), concurrency=8)
    with pytest.raises(WMEmbError) as error:
        prepare_datasets(train, val, tmp_path / "out", options)
    message = str(error.value)
    assert "of the first 8 replies to Chinese passages are not in Chinese (English 8;" in message
    assert "the local model english-lm does not write Chinese, so prepare stopped" in message
    assert "--llm ollama --llm-model qwen2.5:7b" in message
