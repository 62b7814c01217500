import json
import random

import pytest
from typer.testing import CliRunner

from wmemb.errors import WMEmbError
from wmemb.vocab import SuggestOptions, read_word_file, suggest_terms

ZH_FILLER = ("我们 研究 发现 实验 结果 表明 过程 中 这些 细胞 可以 在 条件 下 生长 并且 通过 方法 进行 分析 "
             "温度 变化 时 数量 增加 或者 减少 样品 经过 处理 以后 观察 到 明显 现象").split()
ZH_PLANTED = ["芽孢杆菌", "革兰氏阳性菌", "肽聚糖", "溶菌酶", "鞭毛蛋白"]
EN_FILLER = ("we study the results of this experiment and show that cells grow under warm conditions while samples "
             "are processed with simple methods before analysis of changes in number over time").split()
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
        assert set(terms) <= set(ZH_PLANTED) | set(ZH_FILLER), (use_jieba, set(terms) - set(ZH_PLANTED) - set(ZH_FILLER))
        assert not {"芽孢杆", "孢杆菌", "革兰氏阳性", "兰氏阳性菌"} & set(terms)  # fragments of better candidates
        best = result.candidates[terms.index("革兰氏阳性菌")]
        assert (best.frequency, best.pieces, best.tokens_saved) == (15, 6, 75)
        assert "革兰氏阳性菌" in best.example


def test_finds_planted_english_words_on_minilm(minilm, tmp_path):
    nodes = tmp_path / "en_nodes.jsonl"
    text = planted_text(EN_FILLER, EN_PLANTED, chinese=False, seed=1)
    nodes.write_text("".join(json.dumps({"id": str(i), "text": line}) + "\n" for i, line in enumerate(text.splitlines())),
                     encoding="utf-8")
    result = suggest_terms([nodes], minilm, SuggestOptions(top=20))
    terms = [c.term.lower() for c in result.candidates]
    assert set(EN_PLANTED) <= set(terms[:8]), terms  # nitrification is not a substring of denitrification
    assert not set(EN_FILLER) & set(terms)  # single tokens in MiniLM's vocabulary


def test_uncased_tokenizer_merges_capitalisations(minilm, tmp_path):
    corpus = tmp_path / "en.txt"
    text = planted_text(EN_FILLER, ["endospore"], chinese=False, seed=2, each=6)
    corpus.write_text(text + "Endospore formation begins. ENDOSPORE stains differ. Endospore walls are thick.\n", encoding="utf-8")
    result = suggest_terms([corpus], minilm, SuggestOptions(top=5))
    endospore = [c for c in result.candidates if c.term.lower() == "endospore"]
    assert len(endospore) == 1 and endospore[0].frequency == 9 and endospore[0].term == "endospore"


def test_cli_writes_tsv_that_expand_reads(tiny_bert, tmp_path):
    from wmemb.cli import app

    corpus = tmp_path / "zh.txt"
    corpus.write_text(planted_text(ZH_FILLER, ZH_PLANTED, chinese=True, seed=3), encoding="utf-8")
    out = tmp_path / "terms.tsv"
    result = CliRunner().invoke(app, ["vocab", "suggest", str(corpus), "--model", str(tiny_bert), "--top", "60", "-o", str(out),
                                      "--sentencepiece", "--no-jieba"])
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
