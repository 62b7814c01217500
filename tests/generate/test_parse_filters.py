"""Parsing and filtering of real and realistic model replies, Chinese and English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmemb.generate.filters import FilterRules, QueryFilter, is_question, units
from wmemb.generate.parse import clean_line, parse_reply, strip_think
from wmemb.generate.prompts import EN_TEMPLATE, ZH_TEMPLATE, PromptSet, fill

DATA = Path(__file__).parent / "data"


def _cases(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def questions_of(reply: str) -> list[str]:
    return [q for q in parse_reply(reply).questions if is_question(q)]


@pytest.mark.parametrize("case", _cases("qwen_zh_replies.json"), ids=lambda c: c["name"])
def test_chinese_replies(case):
    assert questions_of(case["reply"]) == case["expected"]


@pytest.mark.parametrize("case", _cases("english_replies.json"), ids=lambda c: c["name"])
def test_english_replies(case):
    assert questions_of(case["reply"]) == case["expected"]


def test_real_smollm2_replies_yield_clean_questions():
    """Replies SmolLM2 really wrote (capture_smollm2.py): no chatter survives parsing + filtering."""
    cases = _cases("smollm2_replies.json")
    assert len(cases) >= 10
    kept_total = 0
    for case in cases:
        kept, _ = QueryFilter().keep(parse_reply(case["reply"]).questions, case["passage"])
        kept_total += len(kept)
        for question in kept:
            assert question.endswith("?") or is_question(question), question
            assert not question.lower().startswith(("here", "sure", "i'd", "i would", "question")), question
            assert question[0] not in '0123456789-*#"', question
            assert len(units(question)) >= 3
    assert kept_total >= len(cases) // 2  # the model does write usable questions


def test_strip_think_variants():
    assert strip_think("<think>a\nb</think>\n问题？") == "问题？"
    assert strip_think("reasoning only</think>What?") == "What?"
    assert strip_think("What?\n<THINK>never closed") == "What?"


def test_clean_line_keeps_inner_quotes_and_drops_tails():
    assert clean_line("3) “芽孢”指的是什么？（这是关键）") == "“芽孢”指的是什么？"
    assert clean_line('- "Who maintains Debian?" (easy)') == "Who maintains Debian?"
    assert clean_line("问2：病毒能独立复制吗") == "病毒能独立复制吗"


def test_filters_count_each_reason():
    passage = (
        "The apt tool installs Debian packages from the repositories listed in the sources list file on the system."
    )
    kept, dropped = QueryFilter(FilterRules(max_units=20)).keep(
        [
            "What does apt install?",
            "what does APT install ?",  # duplicate after normalisation
            "Why?",  # too short
            "Here are two questions about the passage",  # not a question
            # copies the passage
            "The apt tool installs Debian packages from the repositories listed in the sources list file?",
            "How " + "very " * 30 + "long is this?",  # too long
            "Which file lists the repositories apt uses?",
        ],
        passage,
    )
    assert kept == ["What does apt install?", "Which file lists the repositories apt uses?"]
    assert [reason for _, reason in dropped] == ["duplicate", "too_short", "not_question", "copied_span", "too_long"]
    assert dropped[0] == ("what does APT install ?", "duplicate")


def test_filters_chinese():
    passage = "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成，革兰氏染色后呈紫色。"
    kept, dropped = QueryFilter().keep(
        [
            "革兰氏阳性菌的细胞壁由什么构成？",
            "革兰氏阳性菌的细胞壁由什么构成?",
            "以下是两个问题",
            "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成？",
            "什么？",
        ],
        passage,
    )
    assert kept == ["革兰氏阳性菌的细胞壁由什么构成？"]
    assert [reason for _, reason in dropped] == ["duplicate", "not_question", "copied_span", "too_short"]


def test_units_are_han_characters_and_words():
    # Extension A and B ideographs are one unit each; fullwidth letters and digits fold to ASCII words.
    assert units("㐀𠀀细胞 ＡＰＴ-get x86") == ["㐀", "𠀀", "细", "胞", "apt", "get", "x86"]


def test_templates_follow_main_language(tmp_path):
    prompts = PromptSet.builtin()
    assert prompts.render("病毒没有细胞结构。", 3)[2] == fill(ZH_TEMPLATE, "病毒没有细胞结构。", 3)
    language, template, message = prompts.render("Viruses have no cells {x}.", 2)
    assert (
        (language, template) == ("en", EN_TEMPLATE)
        and "Viruses have no cells {x}." in message
        and "Write 2 " in message
    )
    json_message = PromptSet.builtin(json_mode=True).render("病毒没有细胞结构。", 2)[2]
    assert json_message.endswith('{"questions": ["...", "..."]}')

    custom = tmp_path / "prompt.txt"
    custom.write_text("Passage {{literal}}:\n{context_str}\nAsk {num_questions_per_chunk} questions.", encoding="utf-8")
    assert PromptSet.from_file(custom).render("芽孢 {a}", 4)[2] == "Passage {literal}:\n芽孢 {a}\nAsk 4 questions."
    custom.write_text("no placeholder", encoding="utf-8")
    with pytest.raises(Exception, match="context_str"):
        PromptSet.from_file(custom)


def test_real_smollm2_replies_golden():
    """What survives of SmolLM2's real replies to wmemb's prompt (reviewed by hand)."""
    cases = [c for c in _cases("smollm2_replies.json") if c["prompt_style"] == "wmemb"]
    kept = [QueryFilter().keep(parse_reply(c["reply"]).questions, c["passage"])[0] for c in cases]
    assert kept[0] == [
        "What is the purpose of the GNU/Linux operating system?",
        "How does GNU/Linux differ from other operating systems?",
    ]
    assert kept[1] == [
        "What is the command to create a new file in Unix?"
    ]  # section numbers dropped, duplicate dropped
    assert kept[4] == []  # "1.1.2. The Shell Prompt" repeated: headings, no question
    assert kept[5] == [
        "What is the command to start a x-terminal-emulator?",
        "How to get the search menu under the GUI?",
    ]
