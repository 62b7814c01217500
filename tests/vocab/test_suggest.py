import json
import logging
import random
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wmemb.errors import WMEmbError
from wmemb.vocab import SuggestOptions, expand_model, read_word_file, suggest_terms
from wmemb.vocab.suggest import (
    SPECIFICITY_POWER,
    TSV_COLUMNS,
    _latin_runs,
    compound_parts,
    containment_keys,
    frequent_phrases,
    is_chinese_clause,
    is_code_like,
    is_general_word,
    load_sentences,
    occurrences,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

ZH_FILLER = (
    "我们 研究 发现 实验 结果 表明 过程 中 这些 细胞 可以 在 条件 下 生长 并且 通过 方法 进行 分析 "
    "温度 变化 时 数量 增加 或者 减少 样品 经过 处理 以后 观察 到 明显 现象"
).split()
ZH_PLANTED = ["芽孢杆菌", "革兰氏阳性菌", "肽聚糖", "溶菌酶", "鞭毛蛋白"]
EN_FILLER = (
    "we study the results of this experiment and show that cells grow under warm conditions while samples "
    "are processed with simple methods before analysis of changes in number over time"
).split()
EN_PLANTED = ["peptidoglycan", "lipopolysaccharide", "endospore", "nitrification", "denitrification"]


def planted_text(filler, planted, chinese, seed=0, sentences=400, each=15):
    """Random filler sentences; each planted term inserted `each` times at random word positions."""
    rng = random.Random(seed)
    rows = [rng.choices(filler, k=rng.randint(6, 12)) for _ in range(sentences)]
    for term in planted:
        for _ in range(each):
            row = rng.choice(rows)
            row.insert(rng.randint(0, len(row)), term)
    end, joiner = ("。", "") if chinese else (".", " ")
    return "\n".join(joiner.join(row) + end for row in rows) + "\n"


def test_finds_planted_chinese_terms_without_fragments(tiny_bert, tmp_path):
    corpus = tmp_path / "zh.txt"
    corpus.write_text(planted_text(ZH_FILLER, ZH_PLANTED, chinese=True), encoding="utf-8")
    for use_jieba in (True, False):
        result = suggest_terms([corpus], tiny_bert, SuggestOptions(top=60, use_jieba=use_jieba))
        terms = [c.term for c in result.candidates]
        assert set(ZH_PLANTED) <= set(terms), (use_jieba, terms)
        # every suggestion is a whole word: no n-gram across the boundary of two random neighbours
        assert set(terms) <= set(ZH_PLANTED) | set(ZH_FILLER), (
            use_jieba,
            set(terms) - set(ZH_PLANTED) - set(ZH_FILLER),
        )
        assert not {"芽孢杆", "孢杆菌", "革兰氏阳性", "兰氏阳性菌"} & set(terms)  # fragments of better candidates
        best = result.candidates[terms.index("革兰氏阳性菌")]
        assert (best.frequency, best.pieces, best.tokens_saved) == (15, 6, 75)
        assert "革兰氏阳性菌" in best.example


def test_finds_planted_english_words_on_minilm(minilm, tmp_path):
    nodes = tmp_path / "en_nodes.jsonl"
    text = planted_text(EN_FILLER, EN_PLANTED, chinese=False, seed=1)
    nodes.write_text(
        "".join(json.dumps({"id": str(i), "text": line}) + "\n" for i, line in enumerate(text.splitlines())),
        encoding="utf-8",
    )
    result = suggest_terms([nodes], minilm, SuggestOptions(top=20))
    terms = [c.term.lower() for c in result.candidates]
    assert set(EN_PLANTED) <= set(terms[:8]), terms  # nitrification is not a substring of denitrification
    assert not set(EN_FILLER) & set(terms)  # single tokens in MiniLM's vocabulary


def test_uncased_tokenizer_merges_capitalisations(minilm, tmp_path):
    corpus = tmp_path / "en.txt"
    text = planted_text(EN_FILLER, ["endospore"], chinese=False, seed=2, each=6)
    corpus.write_text(
        text + "Endospore formation begins. ENDOSPORE stains differ. Endospore walls are thick.\n", encoding="utf-8"
    )
    result = suggest_terms([corpus], minilm, SuggestOptions(top=5))
    endospore = [c for c in result.candidates if c.term.lower() == "endospore"]
    assert len(endospore) == 1 and endospore[0].frequency == 9 and endospore[0].term == "endospore"


ZH_CLAUSES = ["尝试下列例子", "权限允许所有者", "重定向到文件", "下面的命令", "系统上", "参见第", "该文件", "一个文件"]
ZH_TERMS = ["革兰氏阳性菌", "芽孢杆菌", "肽聚糖", "目的地", "所有者", "使用权", "兼性厌氧菌", "抗原决定簇"]
EN_CODES = ["rw-rw-r", "rw-r", "deadbeef01", "a1b2c3", "x86", "v2024"]
EN_TERMS = [
    "peptidoglycan",
    "lipopolysaccharide",
    "gram-positive",
    "T-cell",
    "quorum-sensing",
    "amd64",
    "UTF-8",
    "MD5sum",
]


@pytest.mark.parametrize("min_freq", [1, 2, 5])
def test_phrases_counted_length_by_length_are_every_frequent_phrase(min_freq):
    """The pruned count (a phrase only where its parts are frequent) equals counting every phrase, then cutting."""
    corpus = load_sentences([SAMPLE / "debian-reference-en-ch1-2.txt"])
    options = SuggestOptions(min_freq=min_freq)
    every: Counter[str] = Counter()
    for _, _, _, keys in _latin_runs(corpus, str.lower):
        for n in range(2, options.max_phrase_words + 1):
            every.update(" ".join(keys[start : start + n]) for start in range(len(keys) - n + 1))
    words = Counter(key for _, _, _, keys in _latin_runs(corpus, str.lower) for key in keys)
    expected = {phrase: count for phrase, count in every.items() if count >= min_freq}
    assert frequent_phrases(corpus, str.lower, words, options) == expected
    assert len(expected) > 100


def test_a_term_inside_another_is_found_by_its_key():
    """rank() compares a candidate only with the better terms listed under its first containment key."""
    terms = ["芽孢", "芽孢杆菌", "杆菌", "孢杆", "菌", "Apt", "apt-get", "APT GET", "get", "apt-get install", "dpkg"]
    terms += ["non-free-firmware", "free", "firmware", "free software", "Free-Software", "software", "getty"]
    for inner in terms:
        for outer in terms:
            if occurrences(inner, outer):
                assert containment_keys(inner)[0] in containment_keys(outer, every=True), (inner, outer)


def test_clause_and_code_rules_separate_junk_from_terms():
    # function words count only as words of their own: 目的地, 所有者, 使用权 contain 的/所有/使用 and stay
    assert [gram for gram in ZH_CLAUSES + ZH_TERMS if is_chinese_clause(gram)] == ZH_CLAUSES
    assert [word for word in EN_CODES + EN_TERMS if is_code_like(word)] == EN_CODES


def test_drops_chinese_clauses_keeps_terms(tiny_bert, tmp_path):
    corpus = tmp_path / "zh.txt"
    # the clauses are as frequent and cohesive as the terms: only the clause rule tells them apart
    corpus.write_text(planted_text(ZH_FILLER, ZH_PLANTED + ZH_CLAUSES[:4], chinese=True, seed=4), encoding="utf-8")
    result = suggest_terms([corpus], tiny_bert, SuggestOptions(top=60))
    terms = [c.term for c in result.candidates]
    assert set(ZH_PLANTED) <= set(terms)
    assert not [term for term in terms if any(word in term for word in ("下列", "允许", "到文件", "的命令"))], terms
    assert result.dropped["Chinese n-grams that are clauses (function words inside)"] >= 4


def test_drops_english_codes_paths_and_clauses_keeps_terms(minilm, tmp_path):
    corpus = tmp_path / "en.txt"
    junk = ["-rw-rw-r--", "id deadbeef01", "on x86", "/usr/lib/wmembconf/", "notes.txt", "try the following"]
    corpus.write_text(
        planted_text(EN_FILLER, EN_PLANTED + ["gram-positive"] + junk, chinese=False, seed=5), encoding="utf-8"
    )
    result = suggest_terms([corpus], minilm, SuggestOptions(top=40))
    terms = [c.term.lower() for c in result.candidates]
    assert set(EN_PLANTED) | {"gram-positive"} <= set(terms), terms
    assert not {"rw-rw-r", "deadbeef01", "x86", "usr", "lib", "wmembconf", "txt", "try the following"} & set(terms), (
        terms
    )
    assert result.dropped["English words that are codes or identifiers (rw-rw-r, hex, mostly digits)"] == 3
    assert result.dropped["English words seen mostly in file paths or names (usr, txt)"] >= 4
    assert result.dropped["English phrases that are clauses or contain codes"] >= 1


def test_cli_writes_tsv_that_expand_reads(tiny_bert, tmp_path):
    from wmemb.cli import app

    corpus = tmp_path / "zh.txt"
    corpus.write_text(planted_text(ZH_FILLER, ZH_PLANTED, chinese=True, seed=3), encoding="utf-8")
    out = tmp_path / "terms.tsv"
    result = CliRunner().invoke(
        app,
        [
            "vocab",
            "suggest",
            str(corpus),
            "--model",
            str(tiny_bert),
            "--top",
            "60",
            "-o",
            str(out),
            "--sentencepiece",
            "--no-jieba",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(TSV_COLUMNS) and len(lines) > 5
    rows = [dict(zip(TSV_COLUMNS, line.split("\t"))) for line in lines[1:]]
    for row in rows:
        parts = row["made_of"].split(" + ") if row["made_of"] else []
        credited = len(parts) or int(row["pieces"])  # a compound: the tokens left once its parts are added
        assert int(row["tokens_saved"]) == int(row["frequency"]) * (credited - 1), row
        expected = int(row["tokens_saved"]) * float(row["specificity"]) ** SPECIFICITY_POWER
        assert float(row["score"]) == pytest.approx(expected, rel=0.005, abs=0.1) or parts, row
        # everyday words are dropped (a compound's general rate is its rarest part's, set after that)
        assert float(row["per_million"]) > float(row["general_per_million"]) * 10 or parts, row
        assert row["term"] in row["example"]
    assert [float(row["score"]) for row in rows] == sorted((float(row["score"]) for row in rows), reverse=True)
    assert set(ZH_PLANTED) <= set(read_word_file(out))


def ranks(terms: list[str], wanted: list[str]) -> dict[str, int]:
    return {term: terms.index(term) for term in wanted if term in terms}


# Everyday words (among the 5,000 most frequent of jieba's dictionary and of wordfreq's English list) that
# ranking by tokens saved alone put among the top 20 of the Debian Reference sample, and domain terms of it.
ZH_EVERYDAY = ["文件", "命令", "目录", "系统", "用户", "显示", "程序", "模式", "设置", "运行", "输入", "操作"]
ZH_DOMAIN = ["正则表达式", "文件系统", "图形用户界面", "编辑器", "非特权用户"]
EN_EVERYDAY = ["following", "information", "using", "used", "should", "example", "available", "different", "other"]
EN_DOMAIN = ["dpkg", "aptitude", "apt-get", "apt-pinning", "non-free-firmware", "regex"]


def test_everyday_words_rank_below_domain_terms_on_real_chinese_text(tiny_bert):
    result = suggest_terms([SAMPLE / "debian-reference-zh-cn-ch1.txt"], tiny_bert, SuggestOptions(top=200))
    terms = [c.term for c in result.candidates]
    domain, everyday = ranks(terms, ZH_DOMAIN), ranks(terms, ZH_EVERYDAY)
    assert len(domain) == len(ZH_DOMAIN), terms
    assert not set(ZH_EVERYDAY) & set(terms[:10]), terms[:10]
    assert max(domain.values()) < 50 and sum(rank < 50 for rank in everyday.values()) <= 5, (domain, everyday)
    # why: a domain term is thousands of times more frequent here than in general language, an everyday word
    # tens of times, however often it occurs
    by_term = {c.term: c for c in result.candidates}
    assert by_term["正则表达式"].specificity > 3 > 2 > by_term["用户"].specificity
    assert by_term["用户"].frequency > by_term["正则表达式"].frequency


def test_everyday_words_rank_below_domain_terms_on_real_english_text(tiny_bert, tmp_path):
    # tiny_bert knows few English words (like the tokenizers of Chinese models): everyday words are cut into
    # many pieces and would save many tokens
    corpus = tmp_path / "en.txt"
    # chapter 2 (package management) of the sample
    corpus.write_text((SAMPLE / "debian-reference-en-ch1-2.txt").read_text(encoding="utf-8")[-120_000:])
    result = suggest_terms([corpus], tiny_bert, SuggestOptions(top=200))
    terms = [c.term for c in result.candidates]
    domain, everyday = ranks(terms, EN_DOMAIN), ranks(terms, EN_EVERYDAY)
    assert len(domain) == len(EN_DOMAIN) and max(domain.values()) < 20, (domain, terms[:30])
    assert min(everyday.values(), default=len(terms)) > 50, everyday
    assert result.dropped["everyday words (less than 10x their general-language rate)"] >= 20


def test_compounds_of_listed_terms_rank_below_their_parts(tiny_bert, minilm, tmp_path):
    assert compound_parts("主服务器设定配置", {"主服务器", "设定", "配置", "服务器"}) == ["主服务器", "设定", "配置"]
    assert compound_parts("主服务器", {"主服务器", "服务器"}) == []
    assert is_general_word("文件系统") and not is_general_word("主服务器设定配置")  # a lexicalised compound stays
    corpus = tmp_path / "zh.txt"
    parts = ["主服务器", "工作站", "设定", "配置"]
    corpus.write_text(
        planted_text(ZH_FILLER, ZH_PLANTED + parts + ["主服务器设定配置"] * 2, chinese=True, seed=6), encoding="utf-8"
    )
    candidates = suggest_terms([corpus], tiny_bert, SuggestOptions(top=60)).candidates
    terms = [c.term for c in candidates]
    compound = candidates[terms.index("主服务器设定配置")]
    assert compound.parts == ["主服务器", "设定", "配置"]
    assert compound.tokens_saved == compound.frequency * 2  # 3 tokens once its parts are added, not 8
    assert terms.index("主服务器设定配置") > max(terms.index(part) for part in ("主服务器", "设定", "配置")), terms

    english = tmp_path / "en.txt"
    english.write_text(
        planted_text(EN_FILLER, EN_PLANTED + ["LTSP", "LTSP server"] * 2, chinese=False, seed=7), encoding="utf-8"
    )
    found = [c.term for c in suggest_terms([english], minilm, SuggestOptions(top=40)).candidates]
    assert found.index("LTSP server") > found.index("LTSP"), found


def test_expand_logs_one_line_for_overlapping_terms(tiny_bert, tmp_path, caplog):
    from wmemb.cli import app

    terms = ["主服务器", "服务器", "服务器端", "工作站", "无盘工作站", "客户端", "瘦客户端", "客户端软件"]
    with caplog.at_level(logging.INFO, logger="wmemb.vocab.expand"):
        report = expand_model(tiny_bert, tmp_path / "expanded", terms)
    overlap_lines = [r.getMessage() for r in caplog.records if "overlap" in r.getMessage()]
    assert len(report.overlaps) >= 5
    summary = [line for line in overlap_lines if "pair(s) of added terms overlap" in line]
    assert len(summary) == 1 and summary[0].startswith(f"{len(report.overlaps)} pair(s)"), overlap_lines
    assert "..." in summary[0] and len(overlap_lines) == 2  # the summary and expand's closing count
    result = CliRunner().invoke(
        app, ["expand", str(tiny_bert), str(tmp_path / "cli"), "--words", *terms], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert f"{len(report.overlaps)} pair(s) of added terms overlap" in result.output
    assert "share characters" not in result.output and "is inside" not in result.output


def test_bad_inputs(tiny_bert, tmp_path):
    with pytest.raises(WMEmbError, match="no such file"):
        suggest_terms([tmp_path / "missing.txt"], tiny_bert)
    with pytest.raises(WMEmbError, match="--top"):
        suggest_terms([tmp_path], tiny_bert, SuggestOptions(top=0))
