"""Benchmark of `vocab suggest` and `expand` on a corpus with planted domain terms.

The corpus is the bundled Debian Reference sample (real Chinese and English text with its own
terms) with microbiology terms inserted at word boundaries of random sentences, each term a
Zipf-like number of times. Printed figures:
- suggest: precision@50 (share of the top 50 that are planted terms) and recall (share of planted
  terms among the --top output), Chinese and English; target recall >= 0.9 at precision@50 >= 0.6.
  Unplanted suggestions are not necessarily wrong: the Debian text has real terms of its own.
- expand (packaged MiniLM, with the suggested terms): average tokens per passage before/after, and
  the mean cosine between old and new sentence embeddings of passages with new terms, per init method.

    python bench/bench_vocab.py [--top 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

CHINESE_TERMS = """芽孢杆菌 革兰氏阳性菌 革兰氏阴性菌 大肠杆菌 金黄色葡萄球菌 枯草芽孢杆菌 乳酸菌 放线菌 链霉素 青霉素 肽聚糖
脂多糖 鞭毛蛋白 荚膜多糖 质粒 噬菌体 核糖体 线粒体 叶绿体 内毒素 外毒素 溶菌酶 磷脂双分子层 转座子 启动子 操纵子
限制性内切酶 聚合酶链式反应 培养基 琼脂平板 接种环 高压蒸汽灭菌 巴氏消毒 生物膜 群体感应 固氮菌 硝化细菌 反硝化作用
光合细菌 蓝细菌 古菌 嗜热菌 嗜盐菌 厌氧菌 兼性厌氧菌 病毒衣壳 逆转录酶 干扰素 抗原决定簇 单克隆抗体 补体系统 吞噬细胞
酵母菌 分生孢子 子囊菌 担子菌 菌丝体 孢子囊 原生质体 类病毒""".split()
ENGLISH_TERMS = """peptidoglycan lipopolysaccharide endospore flagellin bacteriophage plasmid ribosome transposon lysozyme
chemotaxis sporulation conjugation exotoxin endotoxin nucleoid periplasm spirochete actinomycete cyanobacteria
thermophile methanogen mycelium hyphae ascomycete basidiomycete protoplast pasteurization streptomycin penicillin
vancomycin tetracycline interferon phagocyte macrophage immunoglobulin cytokine chemokine peroxisome chloroplast
mitochondrion nitrification denitrification chemolithotroph heterotroph mycorrhiza rhizobium staphylococcus
streptococcus lactobacillus bifidobacterium clostridium mycobacterium bacillus quorum-sensing gram-positive
gram-negative""".split()


def planted_corpus(text: str, terms: list[str], rng: random.Random, chinese: bool) -> tuple[str, dict[str, int]]:
    """Insert each term 6..60 times (Zipf-like) at word boundaries of random sentences of `text`."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    sentence_end = r"(?<=[。！？])" if chinese else r"(?<=[.!?])\s+"
    sentences = [s for s in re.split(sentence_end, text) if len(s.strip()) > 10]
    counts = {term: max(6, round(60 / (rank + 1) ** 0.6)) for rank, term in enumerate(terms)}
    slots = [term for term, count in counts.items() for _ in range(count)]
    rng.shuffle(slots)
    for term in slots:
        index = rng.randrange(len(sentences))
        sentence = sentences[index]
        if chinese:
            words = list(jieba.cut(sentence))
            cut = rng.randrange(len(words) + 1)
            sentences[index] = "".join(words[:cut]) + term + "".join(words[cut:])
        else:
            words = sentence.split(" ")
            cut = rng.randrange(1, len(words) + 1)
            sentences[index] = " ".join(words[:cut] + [term] + words[cut:])
    return ("" if chinese else " ").join(sentences), counts


def suggest_figures(corpus_file: Path, terms: list[str], top: int, sentencepiece: bool = False):
    from wmemb.vocab.suggest import SuggestOptions, suggest_terms

    started = time.perf_counter()
    result = suggest_terms([corpus_file], None, SuggestOptions(top=top, use_sentencepiece=sentencepiece))
    seconds = time.perf_counter() - started
    found = [c.term.lower() for c in result.candidates]
    planted = {term.lower() for term in terms}
    precision50 = sum(term in planted for term in found[:50]) / min(50, max(1, len(found)))
    recall = sum(term in found for term in planted) / len(planted)
    missed = sorted(planted - set(found))
    unplanted = [term for term in found[:50] if term not in planted]
    return result, precision50, recall, missed, unplanted, seconds


def tokens_per_passage(tokenizer, passages: list[str]) -> float:
    return statistics.fmean(len(ids) for ids in tokenizer(passages, add_special_tokens=False)["input_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the corpora and models in this folder")
    parser.add_argument("--lang", nargs="+", choices=["zh", "en"], default=["zh", "en"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from wmemb.models import load_tokenizer
    from wmemb.vocab.expand import INIT_METHODS, expand_model

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-vocab-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    languages = {
        "zh": (SAMPLE / "debian-reference-zh-cn-ch1.txt", CHINESE_TERMS, True),
        "en": (SAMPLE / "debian-reference-en-ch1-2.txt", ENGLISH_TERMS, False),
    }
    suggested = {}
    for language, (source, terms, chinese) in languages.items():
        if language not in args.lang:
            continue
        text, counts = planted_corpus(source.read_text(encoding="utf-8"), terms, rng, chinese)
        corpus_file = work / f"planted-{language}.txt"
        corpus_file.write_text(text, encoding="utf-8")
        print(f"[{language}] corpus {len(text):,} chars, {len(terms)} planted terms, {sum(counts.values())} insertions "
              f"({min(counts.values())}..{max(counts.values())} each)")
        for sentencepiece in (False, True):
            result, p50, recall, missed, unplanted, seconds = suggest_figures(corpus_file, terms, args.top, sentencepiece)
            label = "suggest+sentencepiece" if sentencepiece else "suggest"
            print(f"[{language}] {label}: precision@50 {p50:.2f}, recall@{args.top} {recall:.2f} "
                  f"({len(result.candidates)} candidates, {seconds:.1f} s)")
            print(f"[{language}]   missed: {' '.join(missed) or '-'}")
            print(f"[{language}]   unplanted in top 50: {' '.join(unplanted) or '-'}")
            if not sentencepiece:
                suggested[language] = (text, [c.term for c in result.candidates])

    tokenizer = load_tokenizer(None)
    for language, (text, terms) in suggested.items():
        passages = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        nodes = work / f"passages-{language}.jsonl"
        import json

        nodes.write_text("".join(json.dumps({"id": str(i), "text": p}, ensure_ascii=False) + "\n" for i, p in enumerate(passages)),
                         encoding="utf-8")
        before = tokens_per_passage(tokenizer, passages)
        for init in INIT_METHODS:
            started = time.perf_counter()
            report = expand_model(None, work / f"minilm-{language}-{init}", terms, init=init, overwrite=True, report_texts=nodes)
            seconds = time.perf_counter() - started
            if init == INIT_METHODS[0]:
                after = tokens_per_passage(load_tokenizer(work / f"minilm-{language}-{init}"), passages)
                print(f"[{language}] expand MiniLM with {len(report.added)} suggested terms ({len(report.skipped)} skipped, "
                      f"{len(report.not_single_token)} not single tokens): tokens/passage {before:.1f} -> {after:.1f} "
                      f"({(after - before) / before:+.1%}) over {len(passages)} passages")
            cosine = "n/a" if report.mean_cosine is None else f"{report.mean_cosine:.4f}"
            print(f"[{language}]   init {init:13s}: mean cosine old/new {cosine} on {report.affected_texts} passages with new terms; "
                  f"{report.unaffected_texts} others bit-identical: {report.unaffected_identical} ({seconds:.1f} s)")
    print("note: MiniLM has no Chinese characters in its vocabulary ([UNK]), so zh cosines say little about quality.",
          file=sys.stderr)


if __name__ == "__main__":
    main()
