"""Add domain terms to a model's tokenizer and embedding matrix so that they really match in text.

Why not the obvious ways: BERT tokenizers put spaces around every CJK
character before WordPiece, so multi-character Chinese words appended to vocab.txt never match;
they must be *added tokens*, which the tokenizer cuts out of the raw text first (leftmost-longest).
Chinese terms are added un-normalized (the normalizer would put spaces inside them); Latin terms
follow the tokenizer's case handling (uncased: matched after lowercasing; cased: exactly) and match
whole words only, so `lipase` does not cut `phospholipases` apart. A term that already is one token
or a vocabulary entry is skipped: adding it changes how the words around it split.

New embedding rows start as the mean of the term's old sub-token embeddings (Fast Vocabulary
Transfer; unknown pieces excluded, vocabulary mean as fallback) instead of transformers'
`mean_resizing`, which starts every new token at the same vocabulary mean.

The result is a complete sentence-transformers folder. It is saved, reloaded and checked before it
replaces anything: every added term must be exactly one token inside ordinary sentences, texts
without new terms must embed bit-identically, and texts with them are compared by cosine.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import atomic_dir, check_output_model_dir, folder_size, reject_overwriting_inputs
from wmemb.jsonable import JsonRecord
from wmemb.models import check_model_folder, is_uncased, load_sentence_model
from wmemb.records import read_nodes
from wmemb.text import is_cjk
from wmemb.vocab.wordfile import validate_terms

log = logging.getLogger(__name__)

INIT_METHODS = ("mean-subtoken", "hf-default", "random")
# Ordinary sentences a term is checked in: Chinese terms between other CJK characters, Latin terms between words.
_CJK_PROBE = "我们在实验中观察到{term}的变化。"
_LATIN_PROBE = "In this study, {term} was observed twice."
_NEUTRAL_SENTENCES = [_CJK_PROBE.format(term="温度"), _LATIN_PROBE.format(term="nothing")]
_ENCODE_BATCH = 32


@dataclass
class TermReport(JsonRecord):
    """What happened to one requested term."""

    term: str
    added: bool
    reason: str = ""  # why a term was skipped
    token: str = ""  # the added token's content (lowercased for uncased tokenizers' Latin terms)
    token_id: int | None = None
    old_pieces: list[str] = field(default_factory=list)
    init: str = ""  # how its embedding row was initialised
    probes: dict[str, bool] = field(default_factory=dict)  # sentence -> the term was exactly one token in it

    @property
    def single_token(self) -> bool:
        return bool(self.probes) and all(self.probes.values())


@dataclass
class Overlap(JsonRecord):
    """Two added terms that can compete for the same characters, and how the tokenizer resolves it."""

    first: str
    second: str
    kind: str  # "inside": second contains first; "chain": first's end is second's start
    example: str
    tokens: list[str]

    def describe(self) -> str:
        if self.kind == "inside":
            return (
                f"{self.first!r} is inside {self.second!r}: where {self.second!r} occurs it wins (longest match), "
                f"elsewhere {self.first!r} matches alone"
            )
        return (
            f"{self.first!r} and {self.second!r} share characters: in {self.example!r} the leftmost match wins -> "
            f"{' '.join(self.tokens)}"
        )


@dataclass
class ExpandReport(JsonRecord):
    source: str
    output: str
    init: str
    terms: list[TermReport]
    overlaps: list[Overlap]
    modules_added: list[str]  # sentence-transformers modules added to a source without them
    texts: int = 0  # texts embedded old vs new (report texts, or the probe sentences)
    unaffected_texts: int = 0  # texts without any new token
    unaffected_identical: bool = True  # ...all of which embed bit-identically
    affected_texts: int = 0
    mean_cosine: float | None = None  # old vs new embedding of texts that contain new terms

    @property
    def added(self) -> list[TermReport]:
        return [term for term in self.terms if term.added]

    @property
    def skipped(self) -> list[TermReport]:
        return [term for term in self.terms if not term.added]

    @property
    def not_single_token(self) -> list[TermReport]:
        return [term for term in self.added if not term.single_token]


def expand_model(
    model: str | os.PathLike | None,
    output: str | os.PathLike,
    terms: list[str],
    init: str = "mean-subtoken",
    overwrite: bool = False,
    report_texts: str | os.PathLike | None = None,
    seed: int = 0,
) -> ExpandReport:
    """Expand `model` with `terms` and write the complete model to `output` (which may be `model`)."""
    if init not in INIT_METHODS:
        raise WMEmbError(f"--init {init!r}: unknown method; choose one of {', '.join(INIT_METHODS)}")
    terms = validate_terms(list(terms))
    source = check_model_folder(model)
    output = Path(output).expanduser()
    in_place = output.exists() and output.resolve() == source.resolve()
    check_output_model_dir(output, overwrite=overwrite or in_place)
    # Replacing the model itself is done safely (the new folder is complete before the old one goes).
    reject_overwriting_inputs([output], [("MODEL", None if in_place else source), ("--report-texts", report_texts)])
    texts = [node.text for node in read_nodes(report_texts)] if report_texts else []

    old_model, modules_added = _load_expandable(source)
    new_model = copy.deepcopy(old_model)
    tokenizer = new_model[0].tokenizer
    old_tokenizer = old_model[0].tokenizer
    reports, tokens_to_add = plan_terms(old_tokenizer, terms)
    tokenizer.add_tokens(tokens_to_add)
    for report in reports:
        if report.added:
            report.token_id = tokenizer.convert_tokens_to_ids(report.token)
    overlaps = find_overlaps([r for r in reports if r.added], tokenizer)
    _resize_and_initialise(new_model, old_tokenizer, [r for r in reports if r.added], init, seed)
    log.info(
        "expand: %d term(s) added, %d skipped, %d overlap(s); new rows initialised with %s",
        sum(r.added for r in reports),
        sum(not r.added for r in reports),
        len(overlaps),
        init,
    )

    report = ExpandReport(
        source=str(source), output=str(output), init=init, terms=reports, overlaps=overlaps, modules_added=modules_added
    )
    with atomic_dir(output, overwrite=True, needed=folder_size(source)) as folder:
        new_model.save(str(folder))
        del new_model
        reloaded, _ = _load_expandable(folder)
        _check_single_tokens(reloaded[0].tokenizer, report.added)
        # Without report texts: the probe sentences, plus the same sentences with an everyday word in the term's place.
        probe_texts = [sentence for term in report.added for sentence in term.probes] + _NEUTRAL_SENTENCES
        _compare_embeddings(old_model, reloaded, old_tokenizer, texts or probe_texts, report)
    for term in report.not_single_token:
        log.warning("%r is not a single token in: %s", term.term, [s for s, ok in term.probes.items() if not ok])
    return report


def _load_expandable(source: Path):
    """The model to expand, and the pooling modules added to complete it; its tokenizer must be a fast one."""
    loaded = load_sentence_model(source, device="cpu")
    tokenizer = loaded.model[0].tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise WMEmbError(
            f"{source}: only fast (tokenizer.json-backed) tokenizers can be expanded; "
            f"this one is {type(tokenizer).__name__}"
        )
    return loaded.model, loaded.modules_added


def plan_terms(tokenizer, terms: list[str]):
    """Decide for each term whether to add it and how; returns (reports, AddedTokens to add)."""
    from tokenizers import AddedToken

    uncased = is_uncased(tokenizer)
    normalizer = tokenizer.backend_tokenizer.normalizer
    vocab = tokenizer.get_vocab()
    already_added = set(tokenizer.get_added_vocab())
    seen: dict[str, str] = {}
    reports, to_add = [], []
    for term in terms:
        cjk = any(is_cjk(char) for char in term)
        # Latin terms on an uncased tokenizer are stored as the normalizer writes them (lowercase) and matched
        # after normalisation; everything else is matched exactly as written.
        content = normalizer.normalize_str(term) if uncased and not cjk and normalizer is not None else term
        pieces = tokenizer.tokenize(term)
        report = TermReport(term=term, added=False, token=content, old_pieces=pieces)
        reports.append(report)
        if content in seen:
            report.reason = f"duplicate of {seen[content]!r}" + (
                " (the tokenizer is uncased)" if seen[content] != term else ""
            )
        elif content in already_added:
            report.reason = "already an added token of this tokenizer"
        elif content in vocab:
            report.reason = "already a vocabulary entry; adding it would change how the words around it split"
        elif len(pieces) == 1:
            report.reason = f"already one token ({pieces[0]})"
        else:
            report.added = True
            to_add.append(AddedToken(content, normalized=not cjk and uncased, single_word=not cjk, special=False))
        seen.setdefault(content, term)
        if not report.added:
            log.info("skipped %r: %s", term, report.reason)
    return reports, to_add


def find_overlaps(added: list[TermReport], tokenizer) -> list[Overlap]:
    """Pairs of added terms where one contains the other or one's end is the other's start."""
    by_token = {term.token: term for term in added}
    prefixes: dict[str, list[str]] = {}
    for token in by_token:
        for length in range(1, len(token)):
            prefixes.setdefault(token[:length], []).append(token)
    overlaps = []
    for token in by_token:
        for start in range(len(token)):
            for end in range(start + 1, len(token) + 1):
                inner = token[start:end]
                if inner != token and inner in by_token:
                    overlaps.append(Overlap(inner, token, "inside", token, tokenizer.tokenize(token)))
        for start in range(1, len(token)):
            for other in prefixes.get(token[start:], []):
                if other != token and token not in other and other not in token:
                    example = token + other[len(token) - start :]
                    overlaps.append(Overlap(token, other, "chain", example, tokenizer.tokenize(example)))
    if overlaps:
        log.info("%s (each in the report's overlaps)", overlap_summary(overlaps))
    return overlaps


def overlap_summary(overlaps: list[Overlap], examples: int = 3) -> str:
    """One line for a log or a table: how many pairs of added terms overlap, and the first few."""
    shown = ", ".join(f"{o.first}/{o.second}" for o in overlaps[:examples])
    more = f", ... {len(overlaps) - examples} more" if len(overlaps) > examples else ""
    return f"{len(overlaps)} pair(s) of added terms overlap, e.g. {shown}{more}" if overlaps else "none"


def _resize_and_initialise(model, old_tokenizer, added: list[TermReport], init: str, seed: int) -> None:
    import torch

    auto_model = model[0].auto_model
    old_weights = auto_model.get_input_embeddings().weight.detach().clone()
    new_size = max(len(model[0].tokenizer), old_weights.shape[0])  # some checkpoints carry spare rows
    torch.manual_seed(seed)
    auto_model.resize_token_embeddings(new_size, mean_resizing=init == "hf-default")
    if init != "mean-subtoken":
        for term in added:
            term.init = init
        return
    unknown = old_tokenizer.unk_token_id
    vocab_mean = old_weights[: len(old_tokenizer)].mean(dim=0)
    weights = auto_model.get_input_embeddings().weight
    with torch.no_grad():
        for term in added:
            ids = [i for i in old_tokenizer(term.term, add_special_tokens=False)["input_ids"] if i != unknown]
            if ids:
                weights[term.token_id] = old_weights[ids].mean(dim=0)
                term.init = f"mean of {len(ids)} sub-token(s)"
            else:
                weights[term.token_id] = vocab_mean
                term.init = "vocabulary mean (all pieces unknown)"


def probe_sentences(term: TermReport, uncased: bool) -> list[str]:
    if any(is_cjk(char) for char in term.term):
        return [_CJK_PROBE.format(term=term.term)]
    variants = [term.term]
    if uncased:  # an uncased model must match the term however it is capitalised
        variants += [
            variant
            for variant in (term.term.upper(), term.term.lower(), term.term.capitalize())
            if variant not in variants
        ]
    return [_LATIN_PROBE.format(term=variant) for variant in variants]


def _check_single_tokens(tokenizer, added: list[TermReport]) -> None:
    uncased = is_uncased(tokenizer)
    for term in added:
        for sentence in probe_sentences(term, uncased):
            ids = tokenizer(sentence, add_special_tokens=False)["input_ids"]
            term.probes[sentence] = ids.count(term.token_id) == 1


def _compare_embeddings(old_model, new_model, old_tokenizer, texts: list[str], report: ExpandReport) -> None:
    """Embed texts with both models: unaffected ones must be bit-identical, the rest get a mean cosine.

    Each group is encoded in the same batches by both models, so padding cannot differ between them.
    """
    import torch

    new_tokenizer = new_model[0].tokenizer
    unaffected: list[str] = []
    affected: list[str] = []
    for text in texts:
        same = old_tokenizer(text)["input_ids"] == new_tokenizer(text)["input_ids"]
        (unaffected if same else affected).append(text)
    report.texts, report.unaffected_texts, report.affected_texts = len(texts), len(unaffected), len(affected)
    show = len(texts) > 200

    def encode(model, group):
        return model.encode(group, batch_size=_ENCODE_BATCH, convert_to_tensor=True, show_progress_bar=show)

    if unaffected:
        report.unaffected_identical = bool(torch.equal(encode(old_model, unaffected), encode(new_model, unaffected)))
        if not report.unaffected_identical:
            log.warning("texts without new terms do not embed identically after expansion")
    if affected:
        cosines = torch.nn.functional.cosine_similarity(
            encode(old_model, affected), encode(new_model, affected), dim=-1
        )
        report.mean_cosine = float(cosines.mean())
    log.info(
        "embeddings: %d unaffected text(s)%s, %d with new terms (mean cosine old/new %s)",
        len(unaffected),
        " bit-identical" if report.unaffected_identical else " CHANGED",
        len(affected),
        "n/a" if report.mean_cosine is None else f"{report.mean_cosine:.4f}",
    )
