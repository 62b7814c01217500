"""Benchmark of `vocab suggest` and `expand` on corpora with planted domain terms and on real text.

Microbiology terms (60 Chinese, 56 English) are inserted at word boundaries of random sentences,
each a Zipf-like number of times (6..60), into two kinds of background text:
- controlled: word salad made by this script from everyday words only - words drawn by frequency
  from jieba's general dictionary (jieba/dict.txt, its 20,000 most frequent Han words) for Chinese,
  and from the 8,000 first whole-word entries of the packaged MiniLM's vocab.txt (roughly frequency
  ordered, Zipf weights) for English. Every suggestion that is not a planted term is a false positive
  by construction; the target (recall >= 0.9 at precision@50 >= 0.6) applies here. Caveat: the
  ranking's general-language rates (wordfreq) are partly built from the same kind of text the
  background is drawn from, so the `--no-jieba` row shows what the statistics do without jieba seeding.
- realistic: the bundled Debian Reference sample (data/sample: zh-CN chapter 1, en chapters 1-2;
  GPL-2+, see COPYRIGHT-debian-reference), which has real terms of its own (文件系统, dpkg);
  precision@50 counts planted terms only, so it is a lower bound.
Everyday words: the realistic corpora *without* planted terms are ranked too, and the share of the top
50 that are among the 5,000 most frequent general words of the language is printed (target <= 10%):
for Chinese by jieba's dictionary counts (jieba/dict.txt, Han words) and by wordfreq's Chinese list,
for English by wordfreq's English list (`wordfreq.top_n_list(lang, 5000)`). `--check LANG:PATH` adds
corpora ranked the same way as independent checks (e.g. the Debian Edu manual: debian-edu-doc-zh-cn,
debian-edu-doc-en; `apt-get download` them and `dpkg-deb -x`).
Printed figures: precision@50 (planted share of the top 50) and recall (share of planted terms in the
--top output) per setting side by side; the everyday shares; then, unless --no-expand, for the packaged
MiniLM expanded with the terms suggested on the realistic corpus: average tokens per passage
before/after and the mean cosine between old and new passage embeddings, per init method.

    nice -n 10 python bench/bench_vocab.py [--top 200] [--no-expand] [--keep DIR] [--check zh:FILE en:FILE]
"""

from __future__ import annotations

import argparse
import json
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
BACKGROUND_WORDS = {"zh": 20000, "en": 8000}

CHINESE_TERMS = """芽孢杆菌 革兰氏阳性菌 革兰氏阴性菌 大肠杆菌 金黄色葡萄球菌 枯草芽孢杆菌 乳酸菌 放线菌 链霉素
青霉素 肽聚糖 脂多糖 鞭毛蛋白 荚膜多糖 质粒 噬菌体 核糖体 线粒体 叶绿体 内毒素 外毒素 溶菌酶
磷脂双分子层 转座子 启动子 操纵子
限制性内切酶 聚合酶链式反应 培养基 琼脂平板 接种环 高压蒸汽灭菌 巴氏消毒 生物膜 群体感应 固氮菌 硝化细菌 反硝化作用
光合细菌 蓝细菌 古菌 嗜热菌 嗜盐菌 厌氧菌 兼性厌氧菌 病毒衣壳 逆转录酶 干扰素 抗原决定簇 单克隆抗体 补体系统 吞噬细胞
酵母菌 分生孢子 子囊菌 担子菌 菌丝体 孢子囊 原生质体 类病毒""".split()
ENGLISH_TERMS = """peptidoglycan lipopolysaccharide endospore flagellin bacteriophage plasmid ribosome transposon
lysozyme chemotaxis sporulation conjugation exotoxin endotoxin nucleoid periplasm spirochete actinomycete cyanobacteria
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


def everyday_words(language: str, planted: list[str]) -> tuple[list[str], list[float]]:
    """The most frequent general-language words and their sampling weights, planted terms and words
    containing them left out: jieba's dictionary counts for Chinese, Zipf weights over MiniLM's
    vocab.txt order (frequency-ordered after its special and single-character entries) for English."""
    if language == "zh":
        import jieba

        entries = []
        with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as handle:
            for line in handle:
                word, count = line.split()[:2]
                if re.fullmatch(r"[\u4e00-\u9fff]+", word):
                    entries.append((word, float(count)))
        entries.sort(key=lambda entry: -entry[1])
    else:
        from wmemb.models import resolve_model

        vocab = (resolve_model(None) / "vocab.txt").read_text(encoding="utf-8").split()
        whole_words = [
            word for word in vocab if (word.isalpha() and word.isascii() and len(word) >= 2) or word in ("a", "i")
        ]
        entries = [(word, 1.0 / rank) for rank, word in enumerate(whole_words, start=1)]
    entries = [(word, weight) for word, weight in entries if not any(term.lower() in word for term in planted)]
    entries = entries[: BACKGROUND_WORDS[language]]
    return [word for word, _ in entries], [weight for _, weight in entries]


def everyday_background(language: str, planted: list[str], chars: int, rng: random.Random) -> str:
    """Sentences of 6..20 everyday words drawn by frequency, about `chars` characters in all."""
    words, weights = everyday_words(language, planted)
    sentences, size = [], 0
    while size < chars:
        drawn = rng.choices(words, weights, k=rng.randint(6, 20))
        if language == "zh":
            comma = rng.randrange(2, len(drawn) - 2)
            sentence = "".join(drawn[:comma]) + "，" + "".join(drawn[comma:]) + "。"
        else:
            sentence = " ".join(drawn).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence)
    return "\n".join(sentences) + "\n"


def suggest_figures(corpus_file: Path, terms: list[str], top: int, **options):
    """precision@50 and recall of the planted terms, the unplanted top-50 entries, seconds."""
    from wmemb.vocab.suggest import SuggestOptions, suggest_terms

    started = time.perf_counter()
    result = suggest_terms([corpus_file], None, SuggestOptions(top=top, **options))
    seconds = time.perf_counter() - started
    found = [c.term.lower() for c in result.candidates]
    planted = {term.lower() for term in terms}
    precision50 = sum(term in planted for term in found[:50]) / min(50, max(1, len(found)))
    recall = sum(term in found for term in planted) / len(planted)
    unplanted = [term for term in found[:50] if term not in planted]
    return result, precision50, recall, sorted(planted - set(found)), unplanted, seconds


def general_top_words(language: str, count: int = 5000) -> dict[str, set[str]]:
    """The `count` most frequent general words per list: jieba's dictionary and wordfreq for Chinese,
    wordfreq for English (lowercase)."""
    import wordfreq

    lists = {"wordfreq": set(wordfreq.top_n_list(language, count))}
    if language == "zh":
        lists = {"jieba": set(everyday_words("zh", [])[0][:count]), **lists}
    return lists


def letters_tokenizer(work: Path) -> Path:
    """A cased BERT tokenizer that knows no English words, only characters (##a ...): how a tokenizer with
    little English (bge-*-zh's) cuts English text, so that everyday English words become candidates too."""
    from transformers import BertTokenizerFast

    folder = work / "letters-tokenizer"
    folder.mkdir(parents=True, exist_ok=True)
    characters = [chr(code) for code in range(33, 127)]
    pieces = [f"##{char}" for char in characters if char.isalnum()]
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *pieces]) + "\n", encoding="utf-8"
    )
    BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=False).save_pretrained(folder)
    return folder


def everyday_share(corpus_file: Path, language: str, top: int, model: Path | None):
    """Per general word list, the top-50 suggestions that are among its 5,000 most frequent words; the top 50."""
    from wmemb.vocab.suggest import SuggestOptions, suggest_terms

    found = [c.term for c in suggest_terms([corpus_file], model, SuggestOptions(top=top)).candidates[:50]]
    return {
        name: [t for t in found if t.lower() in words] for name, words in general_top_words(language).items()
    }, found


def print_everyday(label: str, corpus_file: Path, language: str, top: int, model: Path | None = None) -> None:
    everyday, found = everyday_share(corpus_file, language, top, model)
    shares = ", ".join(
        f"{len(words) / max(1, len(found)):.0%} by {name} ({' '.join(words) or '-'})"
        for name, words in everyday.items()
    )
    tokenizer = "MiniLM" if model is None else model.name
    print(f"[{language}] {label}, {tokenizer}: top {len(found)} among the 5,000 most frequent general words: {shares}")
    print(f"[{language}]   top {len(found)}: {' '.join(found)}")


def tokens_per_passage(tokenizer, passages: list[str]) -> float:
    return statistics.fmean(len(ids) for ids in tokenizer(passages, add_special_tokens=False)["input_ids"])


def expansion_figures(work: Path, language: str, text: str, terms: list[str]) -> None:
    """Expand the packaged MiniLM with `terms` per init method; tokens per passage and old/new cosine."""
    import torch

    from wmemb.models import load_tokenizer
    from wmemb.vocab.expand import INIT_METHODS, expand_model

    torch.set_num_threads(1)
    passages = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    nodes = work / f"passages-{language}.jsonl"
    nodes.write_text(
        "".join(json.dumps({"id": str(i), "text": p}, ensure_ascii=False) + "\n" for i, p in enumerate(passages)),
        encoding="utf-8",
    )
    before = tokens_per_passage(load_tokenizer(None), passages)
    for init in INIT_METHODS:
        started = time.perf_counter()
        report = expand_model(
            None, work / f"minilm-{language}-{init}", terms, init=init, overwrite=True, report_texts=nodes
        )
        seconds = time.perf_counter() - started
        if init == INIT_METHODS[0]:
            after = tokens_per_passage(load_tokenizer(work / f"minilm-{language}-{init}"), passages)
            print(
                f"[{language}] expand MiniLM with {len(report.added)} suggested terms ({len(report.skipped)} skipped, "
                f"{len(report.not_single_token)} not single tokens): tokens/passage {before:.1f} -> {after:.1f} "
                f"({(after - before) / before:+.1%}) over {len(passages)} passages"
            )
        cosine = "n/a" if report.mean_cosine is None else f"{report.mean_cosine:.4f}"
        print(
            f"[{language}]   init {init:13s}: mean cosine old/new {cosine} on {report.affected_texts} passages with "
            "new terms; "
            f"{report.unaffected_texts} others bit-identical: {report.unaffected_identical} ({seconds:.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the corpora and models in this folder")
    parser.add_argument("--lang", nargs="+", choices=["zh", "en"], default=["zh", "en"])
    parser.add_argument("--no-expand", action="store_true", help="skip the expansion and cosine figures")
    parser.add_argument(
        "--check", nargs="+", default=[], metavar="LANG:PATH", help="more real corpora for the everyday-word share"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-vocab-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    languages = {
        "zh": (SAMPLE / "debian-reference-zh-cn-ch1.txt", CHINESE_TERMS, True),
        "en": (SAMPLE / "debian-reference-en-ch1-2.txt", ENGLISH_TERMS, False),
    }
    variants = {"default": {}, "sentencepiece": {"use_sentencepiece": True}, "no-jieba": {"use_jieba": False}}
    print(
        f"background 'realistic': Debian Reference sample; 'controlled': everyday-word salad of the same size "
        f"(zh: {BACKGROUND_WORDS['zh']:,} most frequent words of jieba/dict.txt by count, "
        f"en: {BACKGROUND_WORDS['en']:,} first whole words of MiniLM vocab.txt, Zipf weights). Target on controlled."
    )
    print(f"{'':5s}{'options':15s}{'realistic p@50':>16s}{'recall':>8s}{'controlled p@50':>17s}{'recall':>8s}  target")
    realistic_suggestions, notes = {}, []
    for language, (source, terms, chinese) in languages.items():
        if language not in args.lang:
            continue
        real_text = source.read_text(encoding="utf-8")
        corpora = {"realistic": real_text, "controlled": everyday_background(language, terms, len(real_text), rng)}
        planted_files, planted_texts = {}, {}
        for setting, background in corpora.items():
            planted_texts[setting], counts = planted_corpus(background, terms, rng, chinese)
            planted_files[setting] = work / f"planted-{language}-{setting}.txt"
            planted_files[setting].write_text(planted_texts[setting], encoding="utf-8")
            notes.append(
                f"[{language}] {setting}: {len(planted_texts[setting]):,} chars, {len(terms)} planted terms, "
                f"{sum(counts.values())} insertions"
            )
        for variant, options in variants.items():
            if variant == "no-jieba" and not chinese:
                continue  # jieba plays no part in English candidates
            row = {}
            for setting, corpus_file in planted_files.items():
                result, p50, recall, missed, unplanted, seconds = suggest_figures(
                    corpus_file, terms, args.top, **options
                )
                row[setting] = (p50, recall)
                notes.append(
                    f"[{language}] {setting} {variant} ({len(result.candidates)} candidates, {seconds:.1f} s); "
                    f"missed: {' '.join(missed) or '-'}"
                )
                label = "not planted, for a reader to judge" if setting == "realistic" else "false positives"
                notes.append(f"[{language}]   top 50 {label}: {' '.join(unplanted) or '-'}")
                if setting == "realistic" and variant == "default":
                    realistic_suggestions[language] = (planted_texts[setting], [c.term for c in result.candidates])
            (real_p, real_r), (ctl_p, ctl_r) = row["realistic"], row["controlled"]
            met = "met" if ctl_r >= 0.9 and ctl_p >= 0.6 else "NOT met"
            print(f"{language:5s}{variant:15s}{real_p:16.2f}{real_r:8.2f}{ctl_p:17.2f}{ctl_r:8.2f}  {met}")
    print("\n".join(notes))
    checks = [(language, source) for language, (source, _, _) in languages.items() if language in args.lang]
    checks += [(language, Path(path)) for language, path in (check.split(":", 1) for check in args.check)]
    letters = letters_tokenizer(work)
    for language, source in checks:
        print_everyday(source.name, source, language, args.top)
        if language == "en":
            print_everyday(source.name, source, language, args.top, letters)

    if not args.no_expand:
        for language, (text, terms) in realistic_suggestions.items():
            expansion_figures(work, language, text, terms)
        print(
            "note: MiniLM has no Chinese characters in its vocabulary ([UNK]), so zh cosines say little about quality.",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
