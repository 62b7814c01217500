"""What a prepare run will cost, said before the first request, and the time left from the first replies."""

from __future__ import annotations

import logging

from helpers.openai_server import openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from wmemb.generate import prepare_datasets
from wmemb.generate.estimate import CAP_HINT, Answered, estimate_cost, time_left_sentence
from wmemb.text import text_language


def test_tokens_come_from_characters_per_language_or_from_the_cached_replies():
    by_characters = estimate_cost([("en", "x" * 400), ("zh", "菌" * 80), ("fr", "y" * 40)], queries_per_request=2)
    # 400 / 4 + 80 / 0.8 + 40 / 4 (an unlisted language counts as English); 25 reply tokens a query
    assert (by_characters.requests, by_characters.prompt_tokens, by_characters.completion_tokens) == (3, 210, 150)
    assert not by_characters.calibrated
    assert by_characters.sentence().endswith("(estimated from their characters)")
    # per language: English sent 1,000 characters as 250 tokens and got 90 reply tokens in two replies;
    # Chinese 200 characters as 200 tokens, 60 reply tokens in one
    answered = [Answered("en", 600, 150, 40), Answered("en", 400, 100, 50), Answered("zh", 200, 200, 60)]
    calibrated = estimate_cost([("en", "x" * 500), ("zh", "菌" * 100)], 2, answered)
    assert (calibrated.prompt_tokens, calibrated.completion_tokens) == (125 + 100, 45 + 60)
    assert calibrated.sentence() == (
        "2 requests to send: about 225 prompt tokens and 105 reply tokens (estimated at the token counts of the "
        "cached replies)"
    )
    # a run killed after its English requests: Chinese is still estimated from characters, not at English's ratio
    english_only = estimate_cost([("en", "x" * 500), ("zh", "菌" * 100)], 2, answered[:2])
    assert (english_only.prompt_tokens, english_only.completion_tokens) == (125 + 125, 45 + 50)
    assert english_only.sentence().endswith(
        "(estimated en at the token counts of the cached replies, zh from their characters)"
    )


def test_the_time_left_is_the_first_replies_rate_over_the_rest():
    assert time_left_sentence(16, 8.0, 3600, 8) == (
        "16 replies took 8.0 s with 8 in flight (2.00 requests/s): the remaining 3600 take about 30 min at that rate; "
        f"{CAP_HINT}"
    )
    assert "about 2.0 h" in time_left_sentence(10, 10.0, 7200, 4) and "about 45 s" in time_left_sentence(2, 1.0, 90, 1)


def test_prepare_says_the_cost_before_asking_and_calibrates_it_on_a_resumed_run(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("wmemb.generate.prepare.RATE_SAMPLE", 2)
    train_texts, val_texts = EN_PASSAGES[:4] + ZH_PASSAGES[:2], EN_PASSAGES[4:] + ZH_PASSAGES[2:]
    train, val = write_node_files(tmp_path / "nodes", train_texts, val_texts)
    caplog.set_level(logging.INFO, logger="wmemb.generate.prepare")
    with openai_server() as server:
        prepare_datasets(train, val, tmp_path / "out", fast_options(server, max_train_passages=4, concurrency=1))
        first = [request.prompt for request in server.chat_requests()]
    said = [record.getMessage() for record in caplog.records]
    chars_per_token = {"zh": 0.8, "en": 4.0}
    expected = round(sum(len(prompt) / chars_per_token[text_language(prompt)] for prompt in first))
    cost = next(line for line in said if "requests to send" in line)
    assert cost.startswith(f"prepare: 7 requests to send: about {expected:,} prompt tokens and 350 reply tokens")
    assert cost.endswith(f"(estimated from their characters); {CAP_HINT}")
    # measured after the first reply (all that were in flight), over the next 2
    assert any(
        line.startswith("prepare: 2 replies took") and "with 1 in flight" in line and "the remaining 4 take" in line
        for line in said
    )

    caplog.clear()
    with openai_server() as server:  # every passage now: the 4 + 3 answered calibrate the 2 new ones
        prepare_datasets(train, val, tmp_path / "out", fast_options(server))
        second = [request.prompt for request in server.chat_requests()]
    assert len(second) == 2

    # the test server counts a prompt's words as its tokens; each language at its own ratio
    def per_char(language: str) -> float:
        sent = [prompt for prompt in first if text_language(prompt) == language]
        return sum(len(prompt.split()) for prompt in sent) / sum(len(prompt) for prompt in sent)

    expected = round(sum(len(prompt) * per_char(text_language(prompt)) for prompt in second))
    cost = next(record.getMessage() for record in caplog.records if "requests to send" in record.getMessage())
    assert cost.startswith(f"prepare: 2 requests to send: about {expected:,} prompt")
    assert "(estimated at the token counts of the cached replies)" in cost
