"""Cutting documents into sentence-aligned passages that fit a model, and the train/val split.

Sentences are packed greedily into passages of at most `chunk_tokens` tokens (special tokens
included) measured with the model's own tokenizer. A sentence longer than that is cut at clause
punctuation and, failing that, into token windows - never dropped (dropping them would silently lose
text). Exact duplicates and fragments under `min_chars` are removed and counted.

Passages start at headings, so that each one stands alone: a heading is a unit of its own, and the
passage so far is closed before it unless the whole next section (its headings and body up to the
next heading) still fits; so short sections are packed together, and a heading never ends a passage
(except one that ends its document). Each passage's `title` is the section path of its first body text.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmemb.corpus.headings import section_paths
from wmemb.corpus.read import Document, read_corpus
from wmemb.corpus.sentences import clean, secondary_cuts, sentences
from wmemb.errors import WMEmbError
from wmemb.files import RunNames
from wmemb.io import check_output_dir, reject_overwriting_inputs, write_json
from wmemb.jsonable import JsonRecord
from wmemb.models import load_tokenizer, model_max_length, resolve_model
from wmemb.records import Node, content_id, seeded_sample, write_nodes
from wmemb.settings import check_options, shared

log = logging.getLogger(__name__)

CHARS_PER_TOKEN_CAP = 8
"""A unit longer than budget x this many characters is cut without tokenizing it whole; this bounds
tokenizer calls (a 10 MB line costs linear time) and passages of untokenizable text."""


@dataclass(frozen=True)
class SplitOptions:
    chunk_tokens: int = shared("chunk_tokens")
    overlap: int = shared("overlap")  # tokens of trailing sentences repeated at the start of the next passage
    min_chars: int = shared("min_chars")  # passages with fewer non-whitespace characters are removed
    val_ratio: float = shared("val_ratio")
    seed: int = shared("seed", help="Seed of the train/validation assignment.")

    def check(self) -> SplitOptions:
        check_options(self)
        if self.overlap >= self.chunk_tokens // 2:
            raise WMEmbError(
                f"--overlap {self.overlap}: must be less than half of --chunk-tokens ({self.chunk_tokens // 2})"
            )
        return self


@dataclass
class SplitSummary(JsonRecord):
    """What split did, in numbers; printed by the CLI and returned by the API."""

    files: int = 0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    sentences: int = 0
    headings: int = 0  # passages start at these
    long_sentences_cut: int = 0
    passages: int = 0
    duplicates_removed: int = 0
    duplicate_chars: int = 0
    short_removed: int = 0
    short_chars: int = 0
    boilerplate_lines_removed: int = 0
    boilerplate_chars: int = 0
    train: int = 0
    val: int = 0
    tokens_total: int = 0
    tokens_max: int = 0
    chunk_tokens: int = 0
    model: str = ""
    train_path: str = ""
    val_path: str = ""


class TokenCounter:
    """Token counts and token-window cuts with a Hugging Face tokenizer (fast path when available)."""

    def __init__(self, tokenizer):
        self._fast = getattr(tokenizer, "backend_tokenizer", None)
        if self._fast is not None:
            # tokenizer.json may switch on padding/truncation (MiniLM pads to 128): counts need neither.
            self._fast = copy.deepcopy(self._fast)
            self._fast.no_padding()
            self._fast.no_truncation()
        self._tokenizer = tokenizer
        self.special_tokens = tokenizer.num_special_tokens_to_add(pair=False)

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self._fast is not None:
            return [len(enc.ids) for enc in self._fast.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self._tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        if self._fast is not None:
            return self._fast.encode(text, add_special_tokens=False).offsets
        return self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    section: int = -1  # index of the heading whose section holds this unit (-1: before any heading)
    heading: bool = False  # the unit is that heading's line


@dataclass
class DocumentSplit:
    """Passages of one document, and the ones removed (kept to account for every character)."""

    kept: list[Node] = field(default_factory=list)
    duplicates: list[Node] = field(default_factory=list)
    short: list[Node] = field(default_factory=list)


class Splitter:
    """Turns documents into passages of at most `chunk_tokens` tokens for one tokenizer."""

    def __init__(self, tokenizer, options: SplitOptions):
        self.options = options.check()
        self.counter = TokenCounter(tokenizer)
        self.budget = options.chunk_tokens - self.counter.special_tokens
        self.char_cap = self.budget * CHARS_PER_TOKEN_CAP
        self.sentences = 0
        self.long_sentences_cut = 0

    def split_document(self, doc: Document, seen: set[str]) -> DocumentSplit:
        """Passages of `doc`; `seen` holds passage texts of earlier documents (for deduplication)."""
        result = DocumentSplit()
        spans, pieces, pos = [], [], 0
        for start, end, section, heading in _sections(doc):
            if not heading and self._is_fragment(doc.text[start:end]):
                result.short.append(self._node(doc, doc.text[start:end], -1, start, end))
                # blank the fragment out (same length, so offsets stay valid) to keep it out of passages
                pieces += [doc.text[pos:start], " " * (end - start)]
                pos = end
            else:
                spans.append((start, end, section, heading))
        text = "".join(pieces) + doc.text[pos:]
        self.sentences += len(spans)
        titles = [" > ".join(path) for path in section_paths(list(doc.headings))]
        for position, units in enumerate(self._pack(self._units(text, spans))):
            start, end = units[0].start, units[-1].end
            section = next((unit.section for unit in units if not unit.heading), units[-1].section)
            node = self._node(
                doc, clean(text[start:end]), position, start, end, titles[section] if section >= 0 else ""
            )
            passage = node.text
            if len("".join(passage.split())) < self.options.min_chars:
                result.short.append(node)
            elif passage in seen:
                result.duplicates.append(node)
            else:
                seen.add(passage)
                result.kept.append(node)
        counts = self.counter.count([node.text for node in result.kept])
        result.kept = [Node(**{**asdict(node), "tokens": n}) for node, n in zip(result.kept, counts)]
        return result

    def _is_fragment(self, sentence: str) -> bool:
        """Page numbers, rules and stray symbols: short and without a single letter or CJK character."""
        chars = "".join(sentence.split())
        return len(chars) < self.options.min_chars and not any(char.isalpha() for char in chars)

    @staticmethod
    def _node(doc: Document, text: str, position: int, start: int, end: int, title: str = "") -> Node:
        return Node(
            id=content_id(text),
            text=text,
            source=doc.source,
            position=position,
            start=start,
            end=end,
            tokens=0,
            title=title,
        )

    def _units(self, text: str, spans: list[tuple[int, int, int, bool]]) -> list[_Unit]:
        """Sentences and headings with token counts; over-long ones cut into pieces that fit."""
        fits = [end - start <= self.char_cap for start, end, _, _ in spans]
        counts = iter(self.counter.count([clean(text[s:e]) for (s, e, _, _), ok in zip(spans, fits) if ok]))
        units: list[_Unit] = []
        for (start, end, section, heading), ok in zip(spans, fits):
            tokens = next(counts) if ok else self.budget + 1
            if tokens <= self.budget:
                units.append(_Unit(start, end, tokens, section, heading))
            else:
                self.long_sentences_cut += 1
                # the pieces of an over-long heading are body text: none of them names the section alone
                units.extend(_Unit(u.start, u.end, u.tokens, section) for u in self._cut_long(text, start, end))
        return units

    def _cut_long(self, text: str, start: int, end: int) -> list[_Unit]:
        """Cut a too-long sentence at clause punctuation, then into token windows."""
        bounds = [start, *secondary_cuts(text, start, end), end]
        clauses = [(s, e) for s, e in zip(bounds, bounds[1:]) if text[s:e].strip()]
        pieces: list[_Unit] = []
        short = [(s, e) for s, e in clauses if e - s <= self.char_cap]
        counts = dict(zip(short, self.counter.count([clean(text[s:e]) for s, e in short])))
        for s, e in clauses:
            n = counts.get((s, e))
            if n is not None and n <= self.budget:
                pieces.append(_Unit(s, e, n))
            else:
                pieces.extend(self._token_windows(text, s, e))
        return pieces

    def _token_windows(self, text: str, start: int, end: int) -> list[_Unit]:
        """Consecutive windows of at most `budget` tokens, preferring to cut between words.

        Works block by block (a few thousand characters each) so that a 10 MB line without
        punctuation costs linear time and memory."""
        windows: list[_Unit] = []
        pos = start
        block_chars = self.char_cap * 4
        while pos < end:
            block_end = min(end, pos + block_chars)
            offsets = [(a + pos, b + pos) for a, b in self.counter.offsets(text[pos:block_end])]
            if not offsets:
                break  # only whitespace (or nothing tokenizable) left in this block
            i = 0
            while len(offsets) - i > self.budget:
                cut = i + self.budget
                for j in range(cut, i + self.budget // 2, -1):  # back off to a gap between words
                    if offsets[j][0] > offsets[j - 1][1]:
                        cut = j
                        break
                windows.append(_Unit(offsets[i][0], offsets[cut][0], cut - i))
                i = cut
            if block_end == end:
                windows.append(_Unit(offsets[i][0], end, len(offsets) - i))
                break
            if i == 0:  # a block whose few tokens span it all (e.g. one [UNK] "word"): take it whole
                windows.append(_Unit(offsets[0][0], block_end, len(offsets)))
                pos = block_end
            else:
                pos = offsets[i][0]  # re-read the unfinished tail together with the next block
        if windows:
            windows[0].start = start  # leading whitespace/untokenized characters stay in the first window
        return windows

    def _pack(self, units: list[_Unit]) -> list[list[_Unit]]:
        """Greedy packing of consecutive units into passages, with optional token overlap; a section that
        does not fit whole into the passage so far starts a new one (no overlap across a heading), and is
        cut into as few passages as the budget allows, of even size (no short tail)."""
        blocks = _block_tokens(units)
        passages = []
        current: list[_Unit] = []
        used = 0
        left = 0  # tokens of the current section not packed yet
        target = self.budget  # passage size that cuts the rest of a long section evenly
        for i, unit in enumerate(units):
            if i in blocks:
                left = blocks[i]
                if current and used + left > self.budget:
                    passages.append(current)
                    current, used = [], 0
                target = _even_share(left, self.budget) if not current else self.budget
            elif current and (used + unit.tokens > self.budget or (used >= target and used + left > self.budget)):
                passages.append(current)
                carry: list[_Unit] = []
                carried = 0
                for prev in reversed(current):
                    if (
                        carried + prev.tokens > self.options.overlap
                        or carried + prev.tokens + unit.tokens > self.budget
                    ):
                        break
                    carry.insert(0, prev)
                    carried += prev.tokens
                current, used = carry, carried
                target = _even_share(carried + left, self.budget)
            current.append(unit)
            used += unit.tokens
            left -= unit.tokens
        if current:
            passages.append(current)
        return passages


def _sections(doc: Document) -> list[tuple[int, int, int, bool]]:
    """(start, end, section, is heading) of the sentences and headings of `doc`, in text order.
    Sentences never straddle a heading: the text between two headings is split on its own."""
    spans: list[tuple[int, int, int, bool]] = []
    pos, section = 0, -1
    for index, heading in enumerate([*doc.headings, None]):
        stop = len(doc.text) if heading is None else heading.start
        spans += [(pos + s, pos + e, section, False) for s, e in sentences(doc.text[pos:stop])]
        if heading is not None:
            spans.append((heading.start, heading.end, index, True))
            pos, section = heading.end, index
    return spans


def _even_share(tokens: int, budget: int) -> int:
    """Passage size that cuts `tokens` into as few passages of at most `budget` as possible, evenly."""
    return -(-tokens // -(-tokens // budget))


def _block_tokens(units: list[_Unit]) -> dict[int, int]:
    """Where each section starts (the text's first unit, and each heading that follows body text), and
    its tokens up to the next section (its headings and its body)."""
    starts = [i for i, unit in enumerate(units) if i == 0 or (unit.heading and not units[i - 1].heading)]
    ends = [*starts[1:], len(units)]
    return {start: sum(unit.tokens for unit in units[start:end]) for start, end in zip(starts, ends)}


def assign_validation(nodes: list[Node], val_ratio: float, seed: int) -> set[str]:
    """Ids of the validation passages: a seeded hash order, so the split is exact and reproducible."""
    if len(nodes) < 2:
        return set()
    n_val = min(len(nodes) - 1, max(1, round(len(nodes) * val_ratio)))
    return {node.id for node in seeded_sample(nodes, n_val, seed)}


def output_stem(inputs: list[str | Path], name: str | None = None) -> str:
    """The file stem of split's outputs: `name`, which must be a plain file name, or the first input's name."""
    if name is None:
        first = Path(inputs[0])
        return first.name if first.is_dir() else first.stem
    if not name.strip() or name in (".", "..") or any(char in name for char in "/\\\0"):
        raise WMEmbError(
            f"--name {name!r}: must be a plain file name (no folders); pass the folder with -o and a name such as book"
        )
    return name


def output_paths(out: Path, stem: str) -> tuple[Path, Path, Path]:
    """Train nodes, validation nodes and summary files of a split into `out`."""
    names = RunNames(stem)
    return out / names.nodes("train"), out / names.nodes("val"), out / names.split_summary()


def split_corpus(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    model: str | Path | None = None,
    options: SplitOptions = SplitOptions(),
    name: str | None = None,
) -> SplitSummary:
    """Read `inputs`, write `<name>_train_nodes.jsonl` and `<name>_val_nodes.jsonl` into `out_dir`."""
    from tqdm.auto import tqdm

    options.check()
    inputs = list(inputs)
    stem = output_stem(inputs, name)
    out = check_output_dir(out_dir)
    train_path, val_path, summary_path = output_paths(out, stem)
    report = read_corpus(list(inputs))
    reject_overwriting_inputs([train_path, val_path, summary_path], [("input", doc.source) for doc in report.documents])
    model_dir = resolve_model(model)
    tokenizer = load_tokenizer(model_dir)
    limit = model_max_length(model_dir)
    if options.chunk_tokens > limit:
        log.warning(
            "--chunk-tokens %d is above the model's max length %d; using %d", options.chunk_tokens, limit, limit
        )
        options = SplitOptions(**{**asdict(options), "chunk_tokens": limit})
    log.info(
        "split: %d file(s), tokenizer of %s, passages up to %d tokens",
        len(report.documents),
        model_dir,
        options.chunk_tokens,
    )
    splitter = Splitter(tokenizer, options)
    summary = SplitSummary(
        files=len(report.documents),
        skipped_files=report.skipped,
        chunk_tokens=options.chunk_tokens,
        model=str(model_dir),
        boilerplate_lines_removed=report.boilerplate_lines,
        boilerplate_chars=report.boilerplate_chars,
    )
    seen: set[str] = set()
    nodes: list[Node] = []
    for doc in tqdm(report.documents, desc="split", unit="file", disable=len(report.documents) < 2):
        result = splitter.split_document(doc, seen)
        summary.headings += len(doc.headings)
        nodes += result.kept
        summary.duplicates_removed += len(result.duplicates)
        summary.duplicate_chars += sum(len("".join(n.text.split())) for n in result.duplicates)
        summary.short_removed += len(result.short)
        summary.short_chars += sum(len("".join(n.text.split())) for n in result.short)
    if not nodes:
        raise WMEmbError(
            f"{inputs[0]}: no passages left after removing duplicates and fragments "
            f"under --min-chars {options.min_chars}"
        )
    summary.sentences, summary.long_sentences_cut = splitter.sentences, splitter.long_sentences_cut
    summary.passages = len(nodes)
    summary.tokens_total = sum(node.tokens for node in nodes)
    summary.tokens_max = max(node.tokens for node in nodes) + splitter.counter.special_tokens
    val_ids = assign_validation(nodes, options.val_ratio, options.seed)
    if not val_ids:
        log.warning("only one passage: it goes to the training set and the validation set is empty")
    summary.train = write_nodes(train_path, (node for node in nodes if node.id not in val_ids))
    summary.val = write_nodes(val_path, (node for node in nodes if node.id in val_ids))
    summary.train_path, summary.val_path = str(train_path), str(val_path)
    write_json(summary_path, summary.to_json())
    return summary
