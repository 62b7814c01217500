import json
import random

import pytest
from typer.testing import CliRunner

from wmemb.errors import WMEmbError
from wmemb.vocab import SuggestOptions, read_word_file, suggest_terms
from wmemb.vocab.suggest import is_chinese_clause, is_code_like

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
    assert lines[0] == "term\tfrequency\tpieces\ttokens_saved\texample" and len(lines) > 5
    term, frequency, pieces, saved, example = lines[1].split("\t")
    assert int(saved) == int(frequency) * (int(pieces) - 1) and term in example
    assert set(ZH_PLANTED) <= set(read_word_file(out))


def test_bad_inputs(tiny_bert, tmp_path):
    with pytest.raises(WMEmbError, match="no such file"):
        suggest_terms([tmp_path / "missing.txt"], tiny_bert)
    with pytest.raises(WMEmbError, match="--top"):
        suggest_terms([tmp_path], tiny_bert, SuggestOptions(top=0))
