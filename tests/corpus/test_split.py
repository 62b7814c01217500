import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wmemb.corpus import SplitOptions, Splitter, split_corpus
from wmemb.corpus.read import Document, read_corpus
from wmemb.models import load_tokenizer
from wmemb.records import read_nodes

ZH_PARAGRAPH = (
    "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成，能保留结晶紫染料。革兰氏阴性菌的细胞壁较薄，外面还有一层外膜。"
    "芽孢是某些细菌在不良环境下形成的休眠体，它对高温、干燥和辐射有很强的抵抗力！为什么芽孢如此耐热？"
    "因为芽孢含水量低，并含有吡啶二羧酸钙。"
)
EN_PARAGRAPH = (
    "Gram-positive bacteria have a thick peptidoglycan wall that retains crystal violet. Gram-negative "
    "bacteria have a thin wall and an outer membrane, e.g. with lipopolysaccharide. Spores survive heat, "
    "drying and radiation for years! Why are spores so resistant? They hold little water, about 10.5 percent."
)


def corpus_text(kind: str, paragraphs: int = 12) -> str:
    parts = []
    for i in range(paragraphs):
        if kind in ("zh", "mixed"):
            parts.append(f"第{i}节。" + ZH_PARAGRAPH.replace("芽孢", f"芽孢{i}"))
        if kind in ("en", "mixed"):
            parts.append(f"Section {i}. " + EN_PARAGRAPH.replace("Spores", f"Spores ({i})"))
    # hard-wrap like PDF text: CJK lines joined without spaces, English with one
    return "\n\n".join("\n".join(textwrap.wrap(p, 37, break_on_hyphens=False)) for p in parts)


def non_space(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("kind", ["zh", "en", "mixed"])
def test_no_text_is_lost_and_passages_fit_the_token_limit(tiny_bert, kind):
    text = corpus_text(kind)
    text += "\n\n" + "\n\n".join([EN_PARAGRAPH, "7", "-----", ZH_PARAGRAPH])  # duplicates, page number, rule
    tokenizer = load_tokenizer(tiny_bert)
    splitter = Splitter(tokenizer, SplitOptions(chunk_tokens=64, min_chars=6))
    result = splitter.split_document(Document("book.txt", text), set())
    assert [node.text for node in result.short] == ["7", "-----"]  # removed and counted
    passages = sorted(result.kept + result.duplicates, key=lambda node: node.start)
    without_fragments = text.replace("\n7\n", "\n").replace("-----", "")
    assert non_space("".join(node.text for node in passages)) == non_space(without_fragments)
    assert len(result.kept) > 5 and len(result.duplicates) >= 2
    for node in result.kept:
        assert len(tokenizer(node.text)["input_ids"]) <= 64  # special tokens included
        assert node.text == node.text.strip() and "  " not in node.text
    if kind != "en":
        assert any(
            "细胞壁较厚，主要由肽聚糖构成" in node.text for node in result.kept
        )  # CJK soft breaks joined, no spaces


def test_duplicates_are_removed_once_seen_across_documents(tiny_bert):
    splitter = Splitter(load_tokenizer(tiny_bert), SplitOptions(chunk_tokens=64))
    seen: set[str] = set()
    first = splitter.split_document(Document("a.txt", EN_PARAGRAPH), seen)
    second = splitter.split_document(Document("b.txt", EN_PARAGRAPH), seen)
    assert first.kept and not second.kept and len(second.duplicates) == len(first.kept)


def test_long_sentences_are_cut_at_clause_punctuation_then_token_windows_never_dropped(tiny_bert):
    tokenizer = load_tokenizer(tiny_bert)
    clauses = "，".join(f"第{i}个条件是细菌必须生长" for i in range(30)) + "。"
    no_punctuation = "细菌" * 400
    text = clauses + "\n\n" + no_punctuation
    splitter = Splitter(tokenizer, SplitOptions(chunk_tokens=48, min_chars=0))
    result = splitter.split_document(Document("long.txt", text), set())
    assert splitter.long_sentences_cut == 2
    assert non_space("".join(node.text for node in result.kept + result.duplicates)) == non_space(text)
    assert all(len(tokenizer(node.text)["input_ids"]) <= 48 for node in result.kept)
    clause_passages = [node.text for node in result.kept if "条件" in node.text]
    assert all(t.endswith(("，", "。")) for t in clause_passages)  # cut after clause punctuation


def test_a_10_mb_line_without_punctuation_splits_in_linear_time(minilm):
    line = ("abcdefghij " * 8 + "微生物学" * 10) * 20_000  # ~10 MB, no sentence or clause punctuation
    splitter = Splitter(load_tokenizer(minilm), SplitOptions(chunk_tokens=256))
    result = splitter.split_document(Document("line.txt", line), set())
    assert splitter.long_sentences_cut == 1
    assert max(node.tokens for node in result.kept) <= 254
    covered = sum(len(non_space(node.text)) for node in result.kept + result.duplicates + result.short)
    assert covered == len(non_space(line))


def test_overlap_repeats_trailing_sentences(tiny_bert):
    splitter = Splitter(load_tokenizer(tiny_bert), SplitOptions(chunk_tokens=100, overlap=40))
    nodes = splitter.split_document(Document("zh.txt", corpus_text("zh", 4)), set()).kept
    shared = [(a, b) for a, b in zip(nodes, nodes[1:]) if b.start < a.end]
    assert len(shared) >= len(nodes) // 2
    for a, b in shared:
        assert clean_overlap(a.text, b.text)


def clean_overlap(first: str, second: str) -> bool:
    """The next passage starts with a suffix of the previous one."""
    return any(first.endswith(second[:n]) for n in range(5, len(second)))


def test_split_corpus_writes_deterministic_disjoint_train_and_val(tmp_path, tiny_bert):
    book = tmp_path / "book.txt"
    book.write_text(corpus_text("mixed", 20), encoding="utf-8")
    first = split_corpus([book], tmp_path / "a", model=str(tiny_bert), options=SplitOptions(chunk_tokens=64))
    second = split_corpus([book], tmp_path / "b", model=str(tiny_bert), options=SplitOptions(chunk_tokens=64))
    for name in ("book_train_nodes.jsonl", "book_val_nodes.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    train = [json.loads(line) for line in (tmp_path / "a" / "book_train_nodes.jsonl").open(encoding="utf-8")]
    val = [json.loads(line) for line in (tmp_path / "a" / "book_val_nodes.jsonl").open(encoding="utf-8")]
    assert not {n["id"] for n in train} & {n["id"] for n in val}
    assert len(val) == round(first.passages * 0.2) and first.train + first.val == first.passages == second.passages
    assert set(train[0]) == {"id", "text", "source", "position", "start", "end", "tokens", "title"}
    other_seed = split_corpus(
        [book], tmp_path / "c", model=str(tiny_bert), options=SplitOptions(chunk_tokens=64, seed=7)
    )
    assert (tmp_path / "c" / "book_val_nodes.jsonl").read_bytes() != (
        tmp_path / "a" / "book_val_nodes.jsonl"
    ).read_bytes()
    assert other_seed.val == first.val


def test_chunk_tokens_above_the_model_limit_is_capped(tmp_path, tiny_bert):
    book = tmp_path / "book.txt"
    book.write_text(corpus_text("zh", 30), encoding="utf-8")
    summary = split_corpus([book], tmp_path / "out", model=str(tiny_bert), options=SplitOptions(chunk_tokens=4096))
    assert summary.chunk_tokens == 128 and summary.tokens_max <= 128


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wmemb.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_split_prints_a_summary_and_the_legacy_api_works(tmp_path, tiny_bert):
    book = tmp_path / "your.txt"
    book.write_text(corpus_text("mixed", 10), encoding="utf-8")
    done = run_cli("split", str(book), "-o", str(tmp_path / "cli"), "--model", str(tiny_bert), "--chunk-tokens", "64")
    assert done.returncode == 0, done.stderr
    assert "passages" in done.stderr and (tmp_path / "cli" / "your_train_nodes.jsonl").is_file()

    from WMEmbModel import WMEmbModel

    summary = WMEmbModel(str(tiny_bert)).split(str(book), str(tmp_path / "api"), chunk_tokens=64)
    assert Path(summary.train_path).read_bytes() == (tmp_path / "cli" / "your_train_nodes.jsonl").read_bytes()


def bad_inputs(tmp_path: Path, tiny_bert: Path):
    good = tmp_path / "good.txt"
    good.write_text(EN_PARAGRAPH, encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\xff" * 100)
    (tmp_path / "utf16-broken.txt").write_bytes(b"\xff\xfe" + "细菌".encode("utf-16-le") + b"\x00")
    (tmp_path / "nofiles").mkdir()
    (tmp_path / "nofiles" / "a.bin").write_bytes(b"x")
    no_tokenizer = tmp_path / "model-without-tokenizer"
    no_tokenizer.mkdir()
    (no_tokenizer / "config.json").write_text("{}", encoding="utf-8")
    model = ["--model", str(tiny_bert)]
    return [
        ([str(tmp_path / "missing.txt"), *model], "no such file or folder"),
        ([str(tmp_path / "empty.txt"), *model], "empty file"),
        ([str(tmp_path / "binary.txt"), *model], "binary"),
        ([str(tmp_path / "utf16-broken.txt"), *model], "not valid utf-16"),
        ([str(tmp_path / "nofiles"), *model], "no supported files"),
        ([str(good), *model, "--val-ratio", "1.5"], "--val-ratio 1.5: must be more than 0 and less than 1"),
        ([str(good), *model, "--val-ratio", "0"], "--val-ratio 0.0: must be more than 0 and less than 1"),
        ([str(good), "--model", str(no_tokenizer)], "no tokenizer"),
        ([str(good), "--model", str(tmp_path / "no-such-model")], "model folder not found"),
    ]


def test_cli_bad_inputs_give_one_line_errors_and_no_output(tmp_path, tiny_bert):
    for args, message in bad_inputs(tmp_path, tiny_bert):
        out = tmp_path / "out"
        done = run_cli("split", *args, "-o", str(out))
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], done.stderr
        assert not list(out.glob("*nodes.jsonl")) if out.exists() else True


def test_cli_unwritable_output_folder(tmp_path, tiny_bert):
    good = tmp_path / "good.txt"
    good.write_text(EN_PARAGRAPH, encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    done = run_cli("split", str(good), "--model", str(tiny_bert), "-o", str(blocker / "out"))
    assert done.returncode == 2 and "cannot create the output files" in done.stderr


SAMPLES = Path(__file__).parents[2] / "data" / "sample"


@pytest.mark.parametrize("name", ["debian-reference-en-ch1-2.txt", "debian-reference-zh-cn-ch1.txt"])
def test_passages_start_at_headings_and_never_end_with_one(minilm, name):
    doc = read_corpus([SAMPLES / name]).documents[0]
    heading_ends = {heading.end for heading in doc.headings}
    splitter = Splitter(load_tokenizer(minilm), SplitOptions(chunk_tokens=256))
    without_headings = splitter.split_document(Document(doc.source, doc.text), set())
    result = splitter.split_document(doc, set())
    ended_before = sum(node.end in heading_ends for node in without_headings.kept)
    ended_after = sum(node.end in heading_ends for node in result.kept)
    before, after = len(without_headings.kept), len(result.kept)
    print(f"{name}: passages ending with a heading {ended_before}/{before}, now {ended_after}/{after}")
    assert len(doc.headings) > 50 and ended_before >= 5 and ended_after == 0
    starts = {heading.start for heading in doc.headings}
    assert sum(node.start in starts for node in result.kept) >= len(doc.headings) // 3
    # every character is in a passage or counted as removed (fragments lie inside passage spans: compare as multisets)
    passages = result.kept + result.duplicates + result.short
    assert sorted(non_space("".join(node.text for node in passages))) == sorted(non_space(doc.text))
    assert max(node.tokens for node in result.kept) <= 254


def test_titles_are_the_section_paths_of_nested_sections(minilm):
    en = read_corpus([SAMPLES / "debian-reference-en-ch1-2.txt"]).documents[0]
    zh = read_corpus([SAMPLES / "debian-reference-zh-cn-ch1.txt"]).documents[0]
    splitter = Splitter(load_tokenizer(minilm), SplitOptions(chunk_tokens=256))
    titles = {node.text.splitlines()[0]: node.title for node in splitter.split_document(en, set()).kept}
    titles.update({node.text.splitlines()[0]: node.title for node in splitter.split_document(zh, set()).kept})
    # the sample puts no-break spaces after section numbers: titles and passages fold them to spaces
    assert titles["1.1.3. The root account"] == (
        "Chapter 1. GNU/Linux tutorials > 1.1. Console basics > 1.1.3. The root account"
    )
    assert titles["2.1. Debian package management prerequisites"].startswith("Chapter 2.")
    assert titles["1.1.5. GUI 系统管理工具"] == ("第 1 章 GNU/Linux 教程 > 1.1. 控制台基础 > 1.1.5. GUI 系统管理工具")


def test_short_sections_are_packed_together_and_long_ones_start_a_passage(tmp_path, tiny_bert):
    book = tmp_path / "book.md"
    sections = [f"## 短节 {i}\n\n细菌{i}很小。" for i in range(3)] + [
        f"## Long section\n\n{EN_PARAGRAPH}\n\n{ZH_PARAGRAPH}"
    ]
    book.write_text("# 细菌学\n\n" + "\n\n".join(sections), encoding="utf-8")
    summary = split_corpus(
        [book], tmp_path / "out", model=str(tiny_bert), options=SplitOptions(chunk_tokens=64, min_chars=0)
    )
    assert summary.headings == 5
    nodes = sorted(
        read_nodes(tmp_path / "out" / "book_train_nodes.jsonl") + read_nodes(tmp_path / "out" / "book_val_nodes.jsonl"),
        key=lambda node: node.position,
    )
    assert nodes[0].text.startswith("# 细菌学\n## 短节 0") and "## 短节 2" in nodes[0].text
    assert nodes[0].title == "细菌学 > 短节 0"
    assert nodes[1].text.startswith("## Long section") and nodes[1].title == "细菌学 > Long section"
    assert all(node.title == "细菌学 > Long section" for node in nodes[1:])
    assert nodes[1].titled_text() == "细菌学 > Long section\n" + nodes[1].text


def test_node_files_without_titles_still_read(tmp_path):
    old = tmp_path / "old_nodes.jsonl"
    old.write_text(json.dumps({"id": "a", "text": "细菌很小。", "source": "x.txt"}) + "\n", encoding="utf-8")
    node = read_nodes(old)[0]
    assert node.title == "" and node.titled_text() == "细菌很小。"
