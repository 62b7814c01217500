"""`evaluate --baseline bm25`: BM25 and reciprocal rank fusion against hand-worked examples, the rows
they add to the reports, and bad input."""

from __future__ import annotations

import json
import math
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.evaluation_sets import CHINESE, ENGLISH
from wmemb.cli import app, main
from wmemb.errors import WMEmbError
from wmemb.evaluate import BM25Index, EvaluationResult, evaluate_models, metric_names, reciprocal_rank_fusion
from wmemb.evaluate.bm25 import K1, RRF_K, B
from wmemb.evaluate.bootstrap import paired_bootstrap
from wmemb.evaluate.metrics import rank_scores
from wmemb.models import load_sentence_model
from wmemb.text import search_words


def lucene_bm25(tf: int, df: int, n: int, length: int, average: float, k1: float = 1.2, b: float = 0.75) -> float:
    """One word's share of a passage's score: Lucene's idf times its saturated term frequency."""
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * length / average))


def test_the_configured_parameters():
    assert (K1, B, RRF_K) == (1.2, 0.75, 60)  # Lucene's BM25 defaults; Cormack et al.'s fusion constant


def test_english_bm25_scores_and_ranking_by_hand():
    passages = ["The cat sat on the mat.", "A cat, a cat!", "Dogs sit on mats.", "Birds sing."]
    assert [search_words(text) for text in passages] == [
        ["the", "cat", "sat", "on", "the", "mat"],
        ["a", "cat", "a", "cat"],
        ["dogs", "sit", "on", "mats"],  # no stemming: "mats" is not "mat"
        ["birds", "sing"],
    ]
    query = "Cat on the MAT?"  # cat (in 2 passages), on (2), the (1), mat (1)
    n, average = 4, (6 + 4 + 4 + 2) / 4
    expected = [
        lucene_bm25(1, 2, n, 6, average)  # cat
        + lucene_bm25(1, 2, n, 6, average)  # on
        + lucene_bm25(2, 1, n, 6, average)  # the, twice
        + lucene_bm25(1, 1, n, 6, average),  # mat
        lucene_bm25(2, 2, n, 4, average),  # cat, twice
        lucene_bm25(1, 2, n, 4, average),  # on
        0.0,
    ]
    index = BM25Index.build(passages)
    assert index.scores(query) == pytest.approx(expected, rel=1e-6)
    assert index.rank([query, "nothing matches"], depth=4).tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert index.rank([query], depth=2).tolist() == [[0, 1]]


def test_chinese_bm25_matches_jieba_words_not_characters():
    passages = ["细胞壁主要由肽聚糖构成。", "细胞膜控制物质进出细胞。", "病毒在细胞内复制。", "培养基提供营养。"]
    assert search_words(passages[0]) == ["细胞壁", "主要", "由", "肽聚糖", "构成"]
    query = "病毒怎样进入细胞？"
    assert search_words(query) == ["病毒", "怎样", "进入", "细胞"]
    # 细胞 is in passages 1 and 2 only: the word 细胞壁 of passage 0 does not contain it
    n, average = 4, (5 + 5 + 5 + 3) / 4
    cell = lucene_bm25(1, 2, n, 5, average)
    expected = [0.0, cell, lucene_bm25(1, 1, n, 5, average) + cell, 0.0]
    index = BM25Index.build(passages)
    assert index.scores(query) == pytest.approx(expected, rel=1e-6)
    assert index.rank([query], depth=4).tolist() == [[2, 1, 0, 3]]  # 0 and 3 tie: the lower index first


def test_search_words_of_mixed_text():
    assert search_words("革兰氏阳性菌的Gram染色用crystal violet，apt-get与ＢＭ２５。") == [
        *["革兰氏", "阳性菌", "的", "gram", "染色", "用", "crystal", "violet"],
        *["apt", "get", "与", "bm25"],  # fullwidth letters and digits read as ASCII
    ]
    assert search_words("。，！?  --") == []


def test_reciprocal_rank_fusion_by_hand():
    dense, lexical = np.array([[2, 0, 1, 3]]), np.array([[0, 3, 2, 1]])
    fused = {
        0: 1 / (60 + 2) + 1 / (60 + 1),
        1: 1 / (60 + 3) + 1 / (60 + 4),
        2: 1 / (60 + 1) + 1 / (60 + 3),
        3: 1 / (60 + 4) + 1 / (60 + 2),
    }
    assert sorted(fused, key=fused.get, reverse=True) == [0, 2, 3, 1]
    assert reciprocal_rank_fusion([dense, lexical], depth=4).tolist() == [[0, 2, 3, 1]]
    assert reciprocal_rank_fusion([dense, lexical], depth=2).tolist() == [[0, 2]]
    # One row per query. Cut rankings: a passage in one ranking only gets that one's share (row 0: 2 has
    # 1/61, 1 has 1/62); equal scores rank the lower index first (row 1: both 1/61 + 1/62).
    cut = reciprocal_rank_fusion([np.array([[0, 1], [1, 2]]), np.array([[2, 0], [2, 1]])], depth=3)
    assert cut.tolist() == [[0, 2], [1, 2]]  # as deep as the rankings fused


def test_cli_writes_bm25_and_hybrid_rows_with_per_query_results(tmp_path, tiny_bert):
    dataset = tmp_path / "val_dataset.json"
    ENGLISH.save(dataset)
    out = tmp_path / "report"
    argv = ["evaluate", "-m", str(tiny_bert), "--dataset", str(dataset), "--baseline", "bm25", "--k", "1,5", "-o"]
    run = CliRunner().invoke(app, [*argv, str(out)], env={"COLUMNS": "400"})
    assert run.exit_code == 0, run.output

    rows = ["bm25", str(tiny_bert), f"hybrid({tiny_bert})"]
    result = EvaluationResult.from_json(json.loads((out / "metrics.json").read_text(encoding="utf-8")))
    assert [m.label for m in result.models] == [rows[1], rows[0], rows[2]]
    assert result.scores("bm25").path.startswith("bm25s ")
    header = next(line for line in (out / "metrics.md").read_text(encoding="utf-8").splitlines() if "| metric" in line)
    assert [cell.strip() for cell in header.split("|")[2:-1]] == [rows[1], rows[0], rows[2]]
    chart = ET.parse(out / "metrics.svg").getroot()
    assert set(rows) <= {element.text for element in chart.iter("{http://www.w3.org/2000/svg}text")}
    # Exact words answer these questions; random weights do not.
    assert result.scores("bm25").metrics["ndcg@10"] > result.scores(str(tiny_bert)).metrics["ndcg@10"]

    # The same rows from Python, BM25 alone, with per-query results the paired bootstrap compares.
    alone = evaluate_models([], dataset, ks=(1, 5), baselines=["bm25"], show_progress=False)
    assert [m.label for m in alone.models] == ["bm25"]
    assert alone.models[0].metrics == result.scores("bm25").metrics
    assert set(alone.models[0].metrics) == set(metric_names((1, 5)))
    per_query = alone.models[0].per_query
    assert [q.query_id for q in per_query] == list(ENGLISH.queries)
    assert np.mean([q.ndcg for q in per_query]) == pytest.approx(alone.models[0].metrics["ndcg@10"])
    both = evaluate_models([tiny_bert], dataset, baselines=["bm25"], show_progress=False)
    first, second = (both.scores(label).per_query for label in (str(tiny_bert), f"hybrid({tiny_bert})"))
    difference = paired_bootstrap([q.ndcg for q in first], [q.ndcg for q in second], resamples=200)
    assert difference.queries == len(ENGLISH.queries)


def test_chinese_rows_are_bm25_and_its_fusion_with_the_model(tmp_path, tiny_bert):
    dataset = tmp_path / "微生物学_val_dataset.json"
    CHINESE.save(dataset)
    result = evaluate_models([tiny_bert], dataset, baselines=["bm25"], show_progress=False)

    # Both full rankings of the 12 passages (indices in id order), computed here on their own.
    ids, queries = sorted(CHINESE.corpus), list(CHINESE.queries.values())
    bm25 = BM25Index.build([CHINESE.corpus[doc] for doc in ids]).rank(queries, len(ids))
    model = load_sentence_model(tiny_bert).model
    similarity = model.similarity(model.encode_query(queries), model.encode_document([CHINESE.corpus[d] for d in ids]))
    dense = rank_scores(similarity, len(ids))

    def tops(ranking):
        return [[ids[index] for index in row[:3]] for row in ranking]

    assert [q.top for q in result.scores("bm25").per_query] == tops(bm25)
    assert [q.top for q in result.scores(str(tiny_bert)).per_query] == tops(dense)
    assert [q.top for q in result.scores(f"hybrid({tiny_bert})").per_query] == tops(
        reciprocal_rank_fusion([dense, bm25], len(ids))
    )
    # BM25 finds what shares words with the question: 4 of the 6 at rank 1 by the words alone
    assert result.scores("bm25").metrics["hit_rate@1"] >= 4 / 6


def run_wmemb(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["wmemb", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("baseline", "corpus", "message"),
    [
        ("tfidf", None, r"--baseline tfidf: unknown baseline; choose bm25"),
        (
            "bm25",
            {"p1": "。。。", "p2": "!? --"},
            r"--baseline bm25: the corpus has no words .*; pass a dataset",
        ),
    ],
    ids=["unknown-baseline", "corpus-without-words"],
)
def test_bad_baseline_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path, tiny_bert, monkeypatch, capsys, baseline, corpus, message
):
    dataset = tmp_path / "val_dataset.json"
    if corpus is None:
        ENGLISH.save(dataset)
    else:
        dataset.write_text(
            json.dumps({"queries": {"q1": "what?"}, "corpus": corpus, "relevant_docs": {"q1": ["p1"]}}),
            encoding="utf-8",
        )
    # both fail before a model loads
    monkeypatch.setattr("wmemb.evaluate.evaluate.load_sentence_model", lambda *a, **k: pytest.fail("model loaded"))
    argv = ["evaluate", "-m", str(tiny_bert), "--dataset", str(dataset), "--baseline", baseline]
    code, err = run_wmemb([*argv, "-o", str(tmp_path / "report")], monkeypatch, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert re.search(message, errors[0]), errors[0]
    assert not (tmp_path / "report").exists()


def test_bm25_index_and_evaluate_reject_what_they_cannot_score():
    with pytest.raises(WMEmbError, match=r"the corpus has no words to index"):
        BM25Index.build([])
    with pytest.raises(WMEmbError, match=r"--model bm25: the --baseline row has that name"):
        evaluate_models(["bm25"], "unused.json", baselines=["bm25"])
    with pytest.raises(WMEmbError, match=r"no model to evaluate; pass --model at least once, or --baseline bm25"):
        evaluate_models([], "unused.json")
