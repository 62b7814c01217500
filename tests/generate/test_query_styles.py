"""Query styles: keyword-query prompts (zh, en), parsing, filters, a prepare run writing both styles through a real
HTTP server, and an unknown style refused before anything is written."""

from __future__ import annotations

import json
import re
import sys

import pytest

from helpers.openai_server import default_reply, openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from wmemb.cli import main
from wmemb.errors import WMEmbError
from wmemb.generate import PrepareOptions, prepare_datasets
from wmemb.generate.filters import QueryFilter, keyword_shape
from wmemb.generate.parse import parse_reply
from wmemb.generate.prepare import query_style
from wmemb.generate.prompts import KEYWORDS_EN_TEMPLATE, KEYWORDS_ZH_TEMPLATE, PromptSet, fill
from wmemb.records import QADataset


def test_keyword_prompts_follow_the_passage_language():
    prompts = PromptSet.builtin()
    assert prompts.render("病毒没有细胞结构。", 2, "keywords")[:2] == ("zh", KEYWORDS_ZH_TEMPLATE)
    assert prompts.render("病毒没有细胞结构。", 2, "keywords")[2] == fill(KEYWORDS_ZH_TEMPLATE, "病毒没有细胞结构。", 2)
    language, template, message = prompts.render("Viruses have no cells.", 3, "keywords")
    assert (language, template) == ("en", KEYWORDS_EN_TEMPLATE)
    assert "Viruses have no cells." in message and "Write 3 different search-engine queries" in message
    assert "不要用“吗”“呢”“什么”“如何”等疑问词" in KEYWORDS_ZH_TEMPLATE  # no question particles in Chinese keywords
    json_message = PromptSet.builtin(json_mode=True).render("病毒没有细胞结构。", 2, "keywords")[2]
    assert json_message.endswith('{"keywords": ["...", "..."]}')


def test_a_custom_prompt_replaces_the_questions_only(tmp_path):
    custom = tmp_path / "prompt.txt"
    custom.write_text("Passage:\n{context_str}\nAsk {num_questions_per_chunk} questions.", encoding="utf-8")
    prompts = PromptSet.from_file(custom)
    assert prompts.render("芽孢", 2)[2] == "Passage:\n芽孢\nAsk 2 questions."
    assert prompts.render("芽孢是休眠体。", 2, "keywords")[1] == KEYWORDS_ZH_TEMPLATE
    assert prompts.is_custom("questions") and not prompts.is_custom("keywords")


@pytest.mark.parametrize(
    ("reply", "queries"),
    [
        (  # preamble, quotes, explanations after a dash and in parentheses, a closing note
            'Here are 2 search queries:\n1. "apt sources.list repositories" - finds how apt reads its sources\n'
            "2. **debian package install** (the user wants to install)\n\nExplanation: both use keywords.",
            ["apt sources.list repositories", "debian package install"],
        ),
        (  # labels and a colon explanation, bullets, a trailing full stop
            "Query 1: kernel process scheduling\nQuery 2: memory management: how the kernel manages memory\n",
            ["kernel process scheduling", "memory management"],
        ),
        ("- hidden dot files ls.\n- ls -a option", ["hidden dot files ls", "ls -a option"]),
        (
            '{"keywords": ["root account control", "2. normal user account"]}',
            ["root account control", "normal user account"],
        ),
        (
            "以下是两个搜索关键词组合：\n1. “革兰氏阳性菌 细胞壁”——用于查找细胞壁的结构\n"
            "2、关键词2：肽聚糖 革兰氏染色（解释）",
            ["革兰氏阳性菌 细胞壁", "肽聚糖 革兰氏染色"],
        ),
        (
            "<think>想一想</think>\n（一）芽孢 休眠体 高温\n（二）「细菌 抵抗力」：说明芽孢的特点",
            ["芽孢 休眠体 高温", "细菌 抵抗力"],
        ),
    ],
)
def test_keyword_replies_parse(reply, queries):
    assert parse_reply(reply, "keywords").questions == queries


def test_parsing_a_question_reply_is_unchanged_by_styles():
    reply = 'Here are two questions:\n1. What does apt install? - it installs packages\n2. "Where is sources.list?"'
    assert parse_reply(reply).questions == parse_reply(reply, "questions").questions
    assert parse_reply(reply).questions == ["What does apt install?", "Where is sources.list?"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("apt sources.list repositories", None),
        ("debian package install", None),
        ("革兰氏阳性菌 细胞壁", None),
        ("芽孢 休眠体 高温", None),
        ("What does apt install", "not_keywords"),  # a question, with or without its mark
        ("apt install?", "not_keywords"),
        ("革兰氏阳性菌是什么", "not_keywords"),
        ("芽孢 抵抗力 吗", "not_keywords"),
        ("apt is the tool that is used for the packages", "not_keywords"),  # a sentence: function words
        ("Perl is easy to learn", "not_keywords"),  # a copula: a sentence fragment
        ("<b>apt</b> sources", "has_markup"),
        ("[apt](https://wiki.debian.org/Apt) sources", "has_markup"),
        ("apt", "too_short"),  # one word is not a search query here
        ("[4d.1] 1.2.0", "too_short"),  # numbers alone name nothing
        ("芽孢", "too_short"),
        ("apt debian packages repositories sources list file install upgrade", "too_long"),
        ("installs Debian packages from the repositories", "copied_span"),  # a run of 4+ words of the passage
        ("细胞壁较厚，主要由肽聚糖构成", "copied_span"),
    ],
)
def test_keyword_filters(query, reason):
    passage = EN_PASSAGES[0] if re.search("[a-z]", query) else ZH_PASSAGES[0]
    language = "en" if passage == EN_PASSAGES[0] else "zh"
    assert QueryFilter().reason_to_drop(query, passage, language, "keywords") == reason


def test_keyword_shape_allows_words_a_question_test_would_not():
    # "list", "name", "can" start questions in the question filter; here they are search terms
    assert keyword_shape("list slices perl") is None and keyword_shape("name resolution dns") is None


def test_keyword_queries_in_another_language_and_duplicates_across_styles_are_dropped():
    query_filter = QueryFilter()
    kept, dropped = query_filter.keep(["Debian apt packages"], ZH_PASSAGES[1], "keywords")
    assert kept == [] and dropped == [("Debian apt packages", "wrong_language")]
    assert query_filter.keep(["apt sources list?"], EN_PASSAGES[0])[0] == ["apt sources list?"]
    assert query_filter.keep(["APT  sources, list"], EN_PASSAGES[0], "keywords")[1][0][1] == "duplicate"


def test_query_ids_say_their_style():
    assert query_style("a1b2-q0") == "questions" and query_style("a1b2-k1") == "keywords"
    assert query_style("perl-q0003") == "questions"


def styled_reply(prompt: str) -> str:
    """Questions for question prompts (default_reply); keyword queries with a preamble and explanations for
    keyword prompts, built from words of the passage that are not in a row."""
    match = re.search(r"(?:Context:|材料：)\s*\n(.*?)\n\n", prompt, re.S)
    passage = (match.group(1) if match else prompt).strip()
    if "搜索关键词" in prompt:
        head, tail = passage[:4], passage[7:10]
        return f"以下是两个关键词组合：\n1. “{head} {tail}”——用于搜索\n2、关键词：{tail} {head} 资料"
    if "search-engine queries" in prompt:
        words = re.findall(r"[A-Za-z]{3,}", passage)
        return (
            f'Here are two search queries:\n1. "{words[1]} {words[3]} {words[5]}" - finds the passage\n'
            f"2. {words[-1]} {words[-3]} (explanation)"
        )
    return default_reply(prompt)


def test_prepare_writes_both_styles_with_per_style_counts_and_resumes(node_files, tmp_path):
    train, val = node_files
    out = tmp_path / "out"
    with openai_server(reply=styled_reply) as server:
        prepare_datasets(train, val, out, fast_options(server))  # questions only, the default
        assert len(server.chat_requests()) == 9
        both = fast_options(server, query_styles=["questions", "keywords"])
        summary = prepare_datasets(train, val, out, both)
        chats = server.chat_requests()
        assert len(chats) == 9 + 9  # the questions came from the cache: only the keywords were asked for
        again = prepare_datasets(train, val, out, both)
        assert len(server.chat_requests()) == 18 and again.train.reused == 12  # 6 passages x 2 styles
    keyword_prompts = [chat.prompt for chat in chats[9:]]
    assert all("search-engine queries" in p or "搜索关键词" in p for p in keyword_prompts)
    assert sum("搜索关键词" in p for p in keyword_prompts) == 3  # the Chinese passages got the Chinese prompt

    train_set = QADataset.load(out / "book_train_dataset.json")
    styles = {qid: query_style(qid) for qid in train_set.queries}
    assert sorted(set(styles.values())) == ["keywords", "questions"]
    keywords = [train_set.queries[qid] for qid, style in styles.items() if style == "keywords"]
    assert len(keywords) == 12 and not any("?" in q or "？" in q or '"' in q or "“" in q for q in keywords)
    assert any(re.search("[\u4e00-\u9fff]", q) for q in keywords)
    for qid, docs in train_set.relevant_docs.items():
        assert docs == [re.sub(r"-[qk]\d+$", "", qid)]

    assert summary.train.by_style == {
        "questions": {"passages": 6, "failed": 0, "queries": 12, "dropped": {"preamble": 6}},
        "keywords": {"passages": 6, "failed": 0, "queries": 12, "dropped": {"preamble": 6}},
    }
    assert summary.train.queries == 24 and summary.val.by_style["keywords"]["queries"] == 6
    assert summary.train.languages == {"en": 4, "zh": 2}  # passages, not passages x styles
    written = json.loads((out / "book_prepare_summary.json").read_text(encoding="utf-8"))
    assert written["train"]["by_style"] == summary.train.by_style
    dropped = [json.loads(line) for line in (out / "book_train_dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {line["style"] for line in dropped} == {"questions", "keywords"}


def test_an_unknown_style_is_refused_by_the_stage():
    with pytest.raises(WMEmbError, match=r"^--query-styles 'claims': must be one of questions, keywords$"):
        PrepareOptions(query_styles=["questions", "claims"]).check()


@pytest.mark.parametrize(
    ("args", "config", "fragment"),
    [
        (["--corpus", "book.txt", "--query-styles", "claims"], None, "Invalid value for '--query-styles'"),
        (["run.toml"], 'corpus = ["book.txt"]\nquery_styles = ["questions", "claims"]\n', "query_styles"),
        (["run.toml"], 'corpus = ["book.txt"]\nquery_styles = []\n', "query_styles = []"),
    ],
)
def test_wmemb_run_refuses_an_unknown_style_and_writes_nothing(tmp_path, monkeypatch, capsys, args, config, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.txt").write_text("Spores survive heat. 芽孢能耐高温。\n", encoding="utf-8")
    if config:
        (tmp_path / "run.toml").write_text(config, encoding="utf-8")
    before = sorted(path.name for path in tmp_path.iterdir())
    monkeypatch.setattr(sys, "argv", ["wmemb", "run", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert stop.value.code == 2 and fragment in output and "Traceback" not in output
    if config:  # a config's error is one line; a flag's is click's usage error
        assert [line for line in output.splitlines() if line.strip()] == [output.strip()]
        assert output.startswith("error: run.toml: query_styles")
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_the_last_line_of_a_reply_that_hit_its_cap_is_cut_off(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:1], EN_PASSAGES[1:2])
    cut = "Search queries:\napt sources repositories\ndebian pack"  # 6 words: the test server's token count

    def kept(max_tokens: int) -> tuple[list[str], list[dict]]:
        out = tmp_path / f"out{max_tokens}"
        with openai_server(reply=lambda prompt: cut) as server:
            options = fast_options(server, query_styles=["keywords"], max_tokens=max_tokens)
            prepare_datasets(train, val, out, options)
        dropped = (out / "book_train_dropped.jsonl").read_text(encoding="utf-8").splitlines()
        return list(QADataset.load(out / "book_train_dataset.json").queries.values()), [json.loads(d) for d in dropped]

    queries, dropped = kept(6)
    assert queries == ["apt sources repositories"]
    assert {"query": "debian pack", "reason": "cut_off"}.items() <= dropped[-1].items()
    assert kept(100)[0] == ["apt sources repositories", "debian pack"]  # under its cap, a short last line is a query
