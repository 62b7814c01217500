"""Scale: wall time and peak memory of the corpus-side stages on 1, 10 and 100 MB of real zh+en documentation.

    python bench/bench_scale.py [--sizes 1,10,100] [--stages split,vocab,mine,evaluate] [--queries 1000]
        [--minilm-below 10] [--tiny-from 1]

Corpora are built from Debian documentation packages (`apt-get download`, `dpkg-deb -x`, as
bench/quality does), never by repeating a text: Chinese from the Simplified Chinese help of LibreOffice,
GIMP and GNOME, the Debian handbook, Debian Reference, the Debian Edu and New Maintainers'
manuals, KiCad, LilyPond and the Chinese man pages, then the Traditional Chinese ones (about 28 MB of text
in all); English from the English originals plus the PostgreSQL, git, LilyPond, Octave and Apache manuals, the
Java API documentation and the Linux man pages. Each size is half Chinese, or, at 100 MB, all the Chinese there
is and English for the rest. Pages are taken in a seeded order across all packages of a language, so each size is
a prefix of the next and mixes the same sources. They are written as Markdown files (one per page, `#` headings)
under `--cache` (gitignored) and reused; `<cache>/corpus-<N>MB.json` says what each holds.

Each stage runs in its own subprocess (the CLI); its wall time and peak RSS (its own ru_maxrss, through
bench/child.py) are printed per size, with the growth exponent log(t100/t10)/log(10):
- split: the corpus folder -> train/val nodes (packaged MiniLM tokenizer, 256 tokens);
- vocab: `wmemb vocab suggest` on the corpus folder (jieba seeding on);
- mine: `wmemb mine` on a dataset whose corpus is every training passage and whose queries are
  `--queries` passages' first sentences (no LLM: the stage's cost is encoding the corpus and searching it);
- evaluate: `wmemb evaluate` the same way, queries from the validation passages, every passage in the corpus;
- report: the part of the run report that grows with the corpus (both datasets loaded, the data funnel
  over every passage's language); the rest of it reads per-query results, bounded by the questions asked.
MiniLM encodes about 5 passages of 256 tokens a second on 2 busy cores, so mine and evaluate use it only
below `--minilm-below` MB, and a tiny randomly initialised BERT built here (MiniLM's tokenizer, 2 layers,
64 dimensions) from `--tiny-from` MB on; the table names the encoder of each row.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from child import run_measured

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "scale" / "cache"
STAGES = ("split", "vocab", "mine", "evaluate", "report")
# The run report's part that grows with the corpus: both datasets loaded, every passage's language (the funnel).
REPORT_CHILD = r"""
import sys
from pathlib import Path
from wmemb.files import RunNames
from wmemb.records import QADataset
from wmemb.render.document import render_markdown
from wmemb.report.funnel import Funnel
work = Path(sys.argv[1])
datasets = {split: QADataset.load(work / f"{split}.json") for split in ("train", "val")}
funnel = Funnel.read(work, RunNames("scale"), None, None, datasets)
print(render_markdown("report", [funnel.section()]), funnel.summary())
"""
MB = 1_000_000

# (package, folder inside it, glob): every page of documentation a package ships in that language. Never the Debian
# FAQ or the Python documentation (it holds the Python FAQ): both are reserved for independent quality checks.
SOURCES = {
    "zh": [
        ("libreoffice-help-zh-cn", "usr/share/libreoffice/help/zh-CN", "**/*.html"),
        ("gimp-help-zh-cn", "usr/share/gimp/2.0/help/zh_CN", "**/*.html"),
        ("gnome-user-docs", "usr/share/help/zh_CN", "**/*.page"),
        ("debian-handbook", "usr/share/doc/debian-handbook/html/zh-CN", "*.html"),
        ("debian-reference-zh-cn", "usr/share/debian-reference", "*.zh-cn.html"),
        ("debian-edu-doc-zh-cn", "usr/share/doc/debian-edu-doc-zh-cn", "**/*.html"),
        ("debian-edu-doc-legacy-zh-cn", "usr/share/doc/debian-edu-doc-legacy-zh-cn", "*.html"),
        ("maint-guide-zh-cn", "usr/share/doc/maint-guide-zh-cn/html", "*.html"),
        ("manpages-zh", "usr/share/man/zh_CN", "**/*.gz"),
        ("kicad-doc-zh", "usr/share/doc/kicad/help/zh", "*.html"),
        ("lilypond-doc-html-zh", "usr/share/doc/lilypond/html", "**/*.zh.html"),
        # Traditional Chinese: the Simplified Chinese documentation packaged in Debian is about 16 MB of text
        ("libreoffice-help-zh-tw", "usr/share/libreoffice/help/zh-TW", "**/*.html"),
        ("manpages-zh", "usr/share/man/zh_TW", "**/*.gz"),
        ("gnome-user-docs", "usr/share/help/zh_TW", "**/*.page"),
        ("debian-handbook", "usr/share/doc/debian-handbook/html/zh-TW", "*.html"),
        ("debian-reference-zh-tw", "usr/share/debian-reference", "*.zh-tw.html"),
    ],
    "en": [
        ("libreoffice-help-en-us", "usr/share/libreoffice/help/en-US", "**/*.html"),
        ("gimp-help-en", "usr/share/gimp/2.0/help/en", "**/*.html"),
        ("gnome-user-docs", "usr/share/help/C", "**/*.page"),
        ("debian-handbook", "usr/share/doc/debian-handbook/html/en-US", "*.html"),
        ("debian-reference-en", "usr/share/debian-reference", "*.en.html"),
        ("debian-edu-doc-en", "usr/share/doc/debian-edu-doc-en", "**/*.html"),
        ("debian-policy", "usr/share/doc/debian-policy", "*.html"),
        ("postgresql-doc-15", "usr/share/doc/postgresql-doc-15/html", "*.html"),
        ("git-doc", "usr/share/doc/git-doc", "*.html"),
        ("lilypond-doc-html", "usr/share/doc/lilypond/html/Documentation", "*/*.html"),
        ("manpages", "usr/share/man", "man*/*.gz"),
        ("manpages-dev", "usr/share/man", "man*/*.gz"),
        # without the Python documentation, the packages above hold about 40 MB of English text
        ("openjdk-17-doc", "usr/share/doc/openjdk-17-jre-headless/api", "**/*.html"),
        ("octave-doc", "usr/share/doc/octave/octave.html", "*.html"),
        ("apache2-doc", "usr/share/doc/apache2-doc/manual/en", "**/*.html"),
    ],
}
# Generated cross-reference lists of the Java API (who uses a class, the A-Z index): no prose to split
SKIPPED_PAGES = re.compile(r"/(class-use|index-files)/")
MIN_DOCUMENT_CHARS = 200  # index pages and stubs: nothing to split


def fetch(package: str, debs: Path) -> Path:
    """Download and unpack a Debian package once; returns its root folder."""
    root = debs / "x" / package
    if root.is_dir():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    if not sorted(debs.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", "-q", package], cwd=debs, check=True, capture_output=True)
    partial = root.with_name(package + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(sorted(debs.glob(f"{package}_*.deb"))[-1]), str(partial)], check=True)
    partial.rename(root)
    return root


def markup_to_markdown(markup: str) -> str:
    """Visible text of an HTML or Mallard page, headings as `#` lines."""
    from bs4 import XMLParsedAsHTMLWarning

    from wmemb.corpus.read import html_to_text

    markup = re.sub(r"<info>.*?</info>", "", markup, flags=re.S)  # Mallard credits and licence
    markup = re.sub(r"<(/?)title\b", r"<\1h2", markup)  # Mallard section titles
    with warnings.catch_warnings():  # Mallard pages are XML, read as HTML on purpose: bs4 would warn on each
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        text, headings = html_to_text(markup)
    pieces, pos = [], 0
    for heading in headings:
        pieces += [text[pos : heading.start], "#" * heading.level + " "]
        pos = heading.start
    return "".join(pieces) + text[pos:]


_ROFF_ESCAPE = re.compile(r"\\f[BIRP]|\\f\(..|\\[,/&]|\\\*\(..|\\s[-+]?\d")


def roff_to_markdown(source: str) -> str:
    """Text of a man page: section names as headings, macros dropped, font escapes removed."""
    lines = []
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith((".SH", ".SS")):
            lines += ["", "#" * (2 if line.startswith(".SH") else 3) + " " + line[3:].strip().strip('"'), ""]
        elif line.startswith("."):
            words = line.split(None, 1)
            if words[0] in (".B", ".I", ".BR", ".IR", ".BI", ".RB", ".IB", ".RI") and len(words) > 1:
                lines.append(words[1].replace('"', ""))
            elif words[0] in (".PP", ".P", ".LP", ".TP", ".IP", ".sp", ".br"):
                lines.append("")
        else:
            lines.append(line)
    return _ROFF_ESCAPE.sub("", "\n".join(lines)).replace("\\-", "-").replace("\\e", "\\")


def extract(language: str, cache: Path) -> list[Path]:
    """Every page of the language's packages as Markdown under cache/docs/<language>/<package>/ (once)."""
    out = cache / "docs" / language
    for package, folder, pattern in SOURCES[language]:
        target = out / f"{package}_{Path(folder).name}"
        if target.is_dir():
            continue
        root = fetch(package, cache / "debs") / folder
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        pages = sorted(path for path in root.glob(pattern) if path.is_file() and not SKIPPED_PAGES.search(str(path)))
        for index, page in enumerate(pages):
            raw = gzip.decompress(page.read_bytes()) if page.suffix == ".gz" else page.read_bytes()
            source = raw.decode("utf-8", errors="replace")
            text = roff_to_markdown(source) if page.suffix == ".gz" else markup_to_markdown(source)
            if len(text.strip()) >= MIN_DOCUMENT_CHARS:
                (partial / f"{index:05d}.md").write_text(text, encoding="utf-8")
        partial.rename(target)
        print(f"extracted {target.name} ({language}): {sum(p.stat().st_size for p in target.iterdir()) / MB:.1f} MB")
    return sorted(out.glob("*/*.md"), key=lambda path: hashlib.sha256(str(path.relative_to(out)).encode()).digest())


def build_corpus(megabytes: int, cache: Path) -> Path:
    """A folder of about `megabytes` MB of pages (prefixes of a seeded order): half Chinese, or all the Chinese
    there is and English for the rest. What it holds is written beside it (<folder>.json)."""
    folder = cache / f"corpus-{megabytes}MB"
    if folder.is_dir():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    meta: dict[str, dict] = {}
    left = megabytes * MB
    for language, budget in (("zh", megabytes * MB // 2), ("en", None)):
        pages, taken = extract(language, cache), 0
        (partial / language).mkdir(parents=True)
        for page in pages:
            if taken >= (budget or left):
                break
            shutil.copyfile(page, partial / language / f"{page.parent.name}-{page.name}")
            taken += page.stat().st_size
        left -= taken
        meta[language] = {"bytes": taken, "available_bytes": sum(page.stat().st_size for page in pages)}
    folder.with_suffix(".json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    partial.rename(folder)
    return folder


def build_tiny_model(cache: Path) -> Path:
    """A sentence-transformers model with MiniLM's tokenizer and a tiny random BERT (2 layers, 64 dimensions)."""
    folder = cache / "tiny-bert"
    if folder.is_dir():
        return folder
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from wmemb.models import resolve_model

    hf_dir = cache / "tiny-bert-hf"
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(None))
    tokenizer.save_pretrained(hf_dir)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
    )
    BertModel(config).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=256)
    model = SentenceTransformer(modules=[transformer, Pooling(64, pooling_mode="cls"), Normalize()])
    model.save(str(folder))
    return folder


def write_dataset(asked_from: Path, out: Path, queries: int, distractors: Path | None = None) -> None:
    """A llama_index dataset: every passage of `asked_from` (and of `distractors`) in the corpus; `queries` seeded
    passages of `asked_from` asked about by their first sentence (what the LLM would write instead; it costs the
    stage nothing)."""
    from wmemb.corpus.sentences import sentences
    from wmemb.records import QADataset, read_nodes, seeded_sample

    nodes = list(read_nodes(asked_from))
    asked = seeded_sample(nodes, min(queries, len(nodes)), 42)
    first = {node.id: node.text[slice(*next(iter(sentences(node.text))))] for node in asked}
    corpus = {node.id: node.text for node in nodes}
    if distractors is not None:
        corpus |= {node.id: node.text for node in read_nodes(distractors)}
    QADataset(
        queries={f"q{i}": first[node.id] for i, node in enumerate(asked)},
        corpus=corpus,
        relevant_docs={f"q{i}": [node.id] for i, node in enumerate(asked)},
    ).save(out)


def run_stage(arguments: list[str], log: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: less swayed by other jobs on the cores) and peak RSS (MB) of
    `python -m wmemb.cli ARGUMENTS` (`python -c CODE ...` when ARGUMENTS start with -c), in its own process."""
    with log.open("a", encoding="utf-8") as output:
        command = [sys.executable, *(arguments if arguments[0] == "-c" else ["-m", "wmemb.cli", "-q", *arguments])]
        child = run_measured(command, stdout=output, stderr=output)
    if child.returncode:
        sys.exit(f"failed ({child.returncode}): wmemb {' '.join(arguments)}; see {log}")
    return child.seconds, child.cpu_seconds, child.peak_mb


def measure(size: int, stages: list[str], encoders: dict[str, str], queries: int, cache: Path) -> dict:
    """{row: (seconds, peak RSS MB)} of each stage at this size; mine and evaluate once per encoder. The split
    and the datasets of an earlier run are reused when split is not among `stages`."""
    corpus = build_corpus(size, cache)
    work = cache / "work" / f"{size}MB"
    split, log = work / "split", work / "stages.log"
    results = {}
    if "split" in stages or not (split / "scale_split_summary.json").is_file():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        results["split"] = run_stage(
            ["split", str(corpus), "-o", str(split), "--model", "minilm", "--name", "scale"], log
        )
        write_dataset(split / "scale_train_nodes.jsonl", work / "train.json", queries)
        write_dataset(split / "scale_val_nodes.jsonl", work / "val.json", queries)
    searched = work / "searched.json"  # evaluate's: validation questions among every passage (10^5 at 100 MB)
    if not searched.is_file():
        write_dataset(split / "scale_val_nodes.jsonl", searched, queries, split / "scale_train_nodes.jsonl")
    if "vocab" in stages:
        terms = work / "terms.tsv"
        terms.unlink(missing_ok=True)
        results["vocab"] = run_stage(["vocab", "suggest", str(corpus), "-o", str(terms), "--model", "minilm"], log)
    if "report" in stages:
        results["report"] = run_stage(["-c", REPORT_CHILD, str(work)], log)
    for name, model in encoders.items():
        if "mine" in stages:
            mined = work / f"mined-{name}.jsonl"
            mined.unlink(missing_ok=True)
            results[f"mine ({name})"] = run_stage(
                ["mine", str(work / "train.json"), "-o", str(mined), "--model", model], log
            )
        if "evaluate" in stages:
            scored = work / f"eval-{name}"
            shutil.rmtree(scored, ignore_errors=True)
            dataset = str(searched)
            results[f"evaluate ({name})"] = run_stage(
                ["evaluate", "--model", model, "--dataset", dataset, "-o", str(scored)], log
            )
    summary = json.loads((split / "scale_split_summary.json").read_text(encoding="utf-8"))
    results["passages"] = (summary["train"], summary["val"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100", help="corpus sizes in MB, comma-separated")
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"comma-separated: {', '.join(STAGES)} (without split: an earlier split is reused)",
    )
    parser.add_argument("--queries", type=int, default=1000, help="queries of the mine and evaluate datasets")
    parser.add_argument("--minilm-below", type=int, default=10, help="sizes (MB) below this also encode with MiniLM")
    parser.add_argument(
        "--tiny-from", type=int, default=1, help="sizes (MB) from this on encode with a tiny random BERT"
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    for size in (int(s) for s in args.sizes.split(",")):
        encoders = {"MiniLM": "minilm"} if size < args.minilm_below else {}
        if size >= args.tiny_from:
            encoders["tiny BERT"] = str(build_tiny_model(args.cache))
        measured = measure(size, stages, encoders, args.queries, args.cache)
        saved = args.cache / f"results-{size}MB.json"
        earlier = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
        saved.write_text(json.dumps({**earlier, **measured}, indent=1), encoding="utf-8")
    report(args)


def report(args) -> None:
    """The table of every size measured so far (results-<N>MB.json in the cache; sizes may run separately)."""
    rows = {
        int(path.stem.removeprefix("results-").removesuffix("MB")): json.loads(path.read_text(encoding="utf-8"))
        for path in args.cache.glob("results-*MB.json")
    }
    rows = dict(sorted(rows.items()))
    print(f"\n{args.queries} queries in mine and evaluate; tiny BERT: 2 layers, 64 dimensions, random weights")
    for size, row in rows.items():
        meta = json.loads((args.cache / f"corpus-{size}MB.json").read_text(encoding="utf-8"))
        train, val = row["passages"]
        print(
            f"{size:4d} MB: zh {meta['zh']['bytes'] / MB:.1f} MB + en {meta['en']['bytes'] / MB:.1f} MB, "
            f"{train} train + {val} val passages"
        )
    names = list(dict.fromkeys(name for row in rows.values() for name in row if name != "passages"))
    header = "".join(f"{f'{size} MB: wall s, CPU s, peak MB':>32s}" for size in rows)
    print(f"{'stage':20s}{header}  exponent 10->100: wall, CPU")
    for name in names:
        cells = "".join(
            f"{rows[size][name][0]:12.1f} {rows[size][name][1]:9.1f} {rows[size][name][2]:9.0f}"
            if name in rows[size]
            else f"{'-':>32s}"
            for size in rows
        )
        timed = [rows.get(size, {}).get(name) for size in (10, 100)]
        exponents = [f"{math.log(timed[1][i] / timed[0][i]) / math.log(10):6.2f}" for i in (0, 1)] if all(timed) else []
        print(f"{name:20s}{cells}  {' '.join(exponents)}")


if __name__ == "__main__":
    main()
