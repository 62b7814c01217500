"""The keyword view of human questions: each question as the content words someone would type into a search box.

The benchmark's human queries are questions; people also search with keywords. Scoring a model on the keyword view
of the same questions (same relevant passages) shows whether a model trained on synthetic questions alone loses on
keyword search, and whether keyword-style training queries (`query_styles`) win it back.

The words are those lexical search indexes (`wmemb.text.search_words`: lowercased words, jieba words for Chinese)
minus stop words, question words and, for Chinese, particles. "How do I sort a hash (optionally by value instead of
key)?" becomes "sort hash optionally value instead key"; "如何在终端中查看磁盘空间？" becomes "终端 查看 磁盘空间".

    python bench/quality/keyword_view.py bench/quality/cache/perl/eval /tmp/perl-keywords   # a BEIR folder
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from wmemb.text import search_words

# question words, auxiliaries, pronouns, articles, prepositions and conjunctions: words that carry the question's
# grammar, not its subject (the usual English stop-word lists, trimmed to words that are never a technical term)
ENGLISH_STOP_WORDS = frozenset(
    """
    what how why which who whom whose when where whether
    is are was were be been being am do does did doing done have has had having can could shall should will would
    may might must ought need
    i me my mine myself we us our ours you your yours he him his she her it its they them their theirs this that
    these those there here someone something anyone anything one
    a an the and or but nor so if then than else also too very just only even still such
    of to in on at by for with from into onto about above below over under between through during before after
    up down out off again further once as like via per
    not no any some all each every both either neither few more most other same own
    get gets got make makes use using used way ways tell know want wanted
    """.split()
)

# particles, question words, pronouns, measure words, localisers and negations of Chinese questions, as jieba cuts them
CHINESE_STOP_WORDS = frozenset(
    """
    吗 呢 吧 啊 呀 么 的 地 得 了 着 过 是 有 在 和 与 及 或 或者 而 并 就 都 也 还 又 把 被 给 对 从 向 让 用
    什么 怎么 怎样 怎么样 如何 为什么 为何 哪 哪个 哪些 哪里 哪儿 是否 能否 可否 能 能够 可以 会 要 需要 应该
    我 我们 你 你们 他 她 它 他们 这 那 这个 那个 这些 那些 一个 个 一 些 多少 几 中 上 下 里 内 不 没 没有
    """.split()
)

STOP_WORDS = ENGLISH_STOP_WORDS | CHINESE_STOP_WORDS


def keyword_view(question: str) -> str:
    """The question's content words, in order, space-separated; "" when it has none."""
    return " ".join(word for word in search_words(question) if word not in STOP_WORDS)


def write_keyword_view(eval_dir: Path, out_dir: Path) -> dict[str, int]:
    """A copy of the BEIR folder `eval_dir` whose queries are their keyword view; a question with no content word is
    left out (with its qrels: it is not a keyword search). Returns {questions, kept}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(eval_dir / "corpus.jsonl", out_dir / "corpus.jsonl")
    kept, lines = set(), []
    questions = [json.loads(line) for line in (eval_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    for query in questions:
        words = keyword_view(query["text"])
        if words:
            kept.add(str(query["_id"]))
            lines.append(json.dumps({"_id": query["_id"], "text": words}, ensure_ascii=False))
    (out_dir / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out_dir / "qrels").mkdir(exist_ok=True)
    for qrels in (eval_dir / "qrels").glob("*.tsv"):
        rows = qrels.read_text(encoding="utf-8").splitlines()
        header, body = rows[:1], rows[1:]
        (out_dir / "qrels" / qrels.name).write_text(
            "\n".join(header + [row for row in body if row.split("\t", 1)[0] in kept]) + "\n", encoding="utf-8"
        )
    return {"questions": len(questions), "kept": len(kept)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dir", type=Path, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("out_dir", type=Path, help="where its keyword view goes")
    args = parser.parse_args()
    counts = write_keyword_view(args.eval_dir, args.out_dir)
    print(f"{counts['kept']} of {counts['questions']} questions have content words -> {args.out_dir}")


if __name__ == "__main__":
    main()
