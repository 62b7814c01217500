"""Find domain-term candidates in a corpus for a person to review before `expand`.

Chinese text has no spaces, so terms are found statistically among character n-grams (2..8 chars):
- cohesion: the smallest pointwise mutual information over the ways to cut the n-gram in two. A
  productive suffix character (菌, 素, 体, ...) is frequent *because* it ends many terms, so its
  count is capped at that of a typical character when it is the cut-off part;
- freedom: the left and right branching entropy (how varied the neighbouring characters are); a
  fragment of a longer term (芽孢杆 in 芽孢杆菌) is always followed by the same character;
- optional jieba seeding: dictionary words jieba segments need only half the cohesion;
- clauses: n-grams whose jieba segmentation has a particle, preposition or everyday verb as a word of
  its own (重定向|到|文件), a determiner first (下列|例子) or a position word last (系统|上) are dropped.
English words are already delimited: frequent words and short phrases the model's tokenizer cuts
into several pieces are candidates (phrases must be cohesive, not start or end with a function word,
repeat no word and hold no article, pronoun or auxiliary); codes (rw-rw-r, hex ids, mostly digits)
and words seen mostly inside file paths or names (usr, txt) are dropped.
Optionally a sentencepiece unigram model trained on the corpus proposes Chinese seeds too.

Ranking. A term is worth adding when it saves tokens and when it is specific to this corpus: an
everyday word (安装, 用户, install, user) means here what the model already learnt it means, however
often it occurs. So:
- tokens saved = frequency x (pieces - 1); an English phrase, or a Chinese compound of listed terms
  that general language does not list as one word (主服务器设定配置 = 主服务器 + 设定 + 配置), is
  credited only with what it saves beyond its words or parts;
- specificity = log10(rate in the corpus / rate in general language), both per word. The general rate
  comes from wordfreq (Chinese list for Han terms, English list otherwise; words it does not list count
  as once per hundred million words); a phrase or compound is as frequent as its rarest word or part;
- score = tokens saved x specificity^4, best first; a compound of listed terms ranks below its parts.
Words less than `domain_ratio` (10) times more frequent here than in general language are dropped as
everyday words, as are existing vocabulary, substrings of better candidates that rarely occur on their
own, and n-grams starting or ending with a function character.

The result is a TSV to edit by hand and pass to `wmemb expand --words-file` (which reads its first
column). Columns: term; score; tokens_saved; specificity; frequency (occurrences in the corpus);
per_million (the same per million corpus words); general_per_million (wordfreq's rate per million
words); pieces (tokens the model cuts the term into now); made_of (the listed terms a compound is made
of, joined by " + "; empty otherwise); example (a sentence it occurs in).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from wmemb.corpus.read import read_corpus
from wmemb.corpus.sentences import clean, sentences
from wmemb.errors import WMEmbError
from wmemb.io import atomic_write
from wmemb.models import is_uncased, load_tokenizer
from wmemb.records import read_nodes
from wmemb.settings import check_options, shared
from wmemb.text import HAN, LATIN_WORD, han_count
from wmemb.vocab.wordfile import MAX_TERM_CHARS

log = logging.getLogger(__name__)

_HAN_RUN = re.compile(f"[{HAN}]+")
_LATIN_RUN = re.compile(rf"{LATIN_WORD.pattern}(?:[ \t]+{LATIN_WORD.pattern})*")  # words separated by spaces

# Characters that end many Chinese terms (bacteria, -ins, bodies, enzymes, diseases, agents ...).
PRODUCTIVE_SUFFIXES = frozenset("菌素体酶剂病炎症性化类质物器法率学酸盐胞核膜系统式型")
# Function characters no term starts or ends with; an n-gram with one at its edge crosses a word boundary.
_BAD_FIRST = frozenset("的了是在和与及或也都就而被把对从等这那其之但并且则即又很再你我他她它")
_BAD_LAST = frozenset("的了是在和与及或也都就而被把对从等这那其之但并且则即又很再你我他她它个么吗呢吧于着过")
_ENGLISH_FUNCTION_WORDS = frozenset(
    """a an the and or but nor of in on at by for with from to into onto over under about as than then that this these
    those which who whom whose what when where why how is are was were be been being has have had do does did can could
    shall should will would may might must not no it its we you they he she i our your their his her them us me my
    there here also such each every any all some both either neither more most less other same so if via per see
    use""".split()
)
_DIGIT_RUNS = re.compile(r"\d+")
_ALNUM_RUN = re.compile(r"[a-z0-9]+")
# jieba words that make an n-gram a clause or a phrase about the text rather than a term: particles,
# prepositions, modal and everyday verbs anywhere (重定向|到|文件, 权限|允许|所有者, 下面|的|命令) ...
_CLAUSE_WORDS_ZH = frozenset(
    "的 了 是 在 和 与 及 或 把 被 将 到 让 使 给 能 会 可以 允许 需要 包含 使用 尝试 参见 请".split()
)
# ... determiners and pointers at the start (下列|例子, 该|文件), positions and ordinals at the end (系统|上, 参见|第).
_LEADING_WORDS_ZH = frozenset(
    "下列 下面 以下 如下 上述 该 此 每 各 某 这些 那些 这个 那个 一个 一种 一些 任何 所有 其他 如何".split()
)
_TRAILING_WORDS_ZH = frozenset("例子 如下 之后 以后 之前 以前 时 上 下 里 第 后 前 之一 等等".split())
# Words that make an English phrase a clause: articles, pronouns, auxiliaries (try the following, it is used).
_ENGLISH_CLAUSE_WORDS = frozenset(
    """a an the this that these those is are was were be been being has have had do does did can could shall should
    will would may might must it its we you they he she i our your their his her them us me my there""".split()
)
_HEX_ID = re.compile(r"[0-9a-f]{4,}")
# General-language rate given to words wordfreq does not list: once per hundred million words, its rarest entries.
BACKGROUND_FLOOR = 1e-8
# Average length of a word in running Chinese text (jieba's dictionary segmentation of the bundled Debian
# Reference sample: 1.73), to turn character counts into word counts comparable with per-word rates.
CHINESE_CHARS_PER_WORD = 1.7
# A hyphenated word is one word that wordfreq splits in parts; each break it has to assume makes it this much
# rarer, the factor wordfreq itself applies to the word breaks it infers inside Chinese text.
INFERRED_BREAK_FACTOR = 10.0
# Specificity spans about 1..5 (orders of magnitude), tokens saved about 10..10,000 (the most with tokenizers
# that cut words into letters): to the 4th power both span about the same range, so a term 30,000x more frequent
# here than in general language (4.5) outranks an everyday word 100x more frequent (2) saving 25x as many tokens.
# Chosen on the bundled Debian Reference samples (the power that keeps everyday words <= 10% of the top 50 there
# with both tokenizers tried); the Debian Edu manual was the independent check.
SPECIFICITY_POWER = 4
# A compound of listed terms scores at most this share of its lowest-scoring part's score.
COMPOUND_BELOW_PARTS = 0.99


@dataclass
class SuggestOptions:
    # `wmemb run` adds its suggest_top best terms unreviewed; `wmemb vocab suggest` writes more, for review
    top: int = shared("suggest_top", flag="--top", help="Candidates to write, best first.", default=200)
    # occurrences in the corpus; rarer n-grams chain by chance, and a new embedding row seen fewer times
    # than this in fine-tuning data hardly learns anything
    min_freq: int = 5
    max_chars: int = 8  # longest Chinese n-gram considered
    min_pmi: float = 3.0  # natural log: the parts occur together ~20x more often than by chance
    min_entropy: float = 1.0  # nats, the smaller of left and right branching entropy
    # rate in the corpus / rate in general language (wordfreq) below this: an everyday word, dropped
    domain_ratio: float = 10.0
    max_phrase_words: int = 3
    use_jieba: bool = True
    use_sentencepiece: bool = False
    sentencepiece_vocab: int = 4000

    def check(self) -> None:
        check_options(self)
        # options of the vocab suggest command only, not settings of `wmemb run`
        if self.min_freq < 1:
            raise WMEmbError(f"--min-freq {self.min_freq}: must be at least 1")


@dataclass
class Candidate:
    term: str
    frequency: int
    pieces: int  # tokens the model's tokenizer cuts the term into now
    example: str
    origin: set[str] = field(default_factory=set)  # ngram, jieba, word, phrase, sentencepiece
    words: int = 1  # Latin words in a phrase
    parts: list[str] = field(default_factory=list)  # listed terms a Chinese compound is made of
    rate: float = 0.0  # occurrences per corpus word
    general_rate: float = BACKGROUND_FLOOR  # occurrences per word of general language (wordfreq)
    ceiling: float = math.inf  # a compound's score stays below its parts' scores

    @property
    def tokens_saved(self) -> int:
        """frequency x (pieces - 1); a phrase or a compound of listed terms is credited only with what it
        saves beyond its words or parts (one token each), so it never outranks them for their savings."""
        credited = len(self.parts) or (self.pieces if self.words == 1 else self.words)
        return self.frequency * (credited - 1)

    @property
    def specificity(self) -> float:
        """log10 of how many times more often the term occurs here than in general language."""
        return math.log10(self.rate / self.general_rate)

    @property
    def score(self) -> float:
        """tokens saved x specificity^4 (see SPECIFICITY_POWER), at most `ceiling`."""
        return min(self.tokens_saved * max(0.0, self.specificity) ** SPECIFICITY_POWER, self.ceiling)


@dataclass
class SuggestResult:
    candidates: list[Candidate]
    sentences: int
    dropped: Counter = field(default_factory=Counter)  # reason -> count


def load_sentences(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Sentences of corpus files/folders (read like `split` does) and of node JSONL files."""
    texts: list[str] = []
    documents = [path for path in map(Path, inputs) if path.suffix.lower() != ".jsonl"]
    for path in map(Path, inputs):
        if path.suffix.lower() == ".jsonl":
            texts += [node.text for node in read_nodes(path)]
    if documents:
        texts += [document.text for document in read_corpus([*documents]).documents]
    result = [clean(text[start:end]) for text in texts for start, end in sentences(text)]
    if not result:
        raise WMEmbError(f"{inputs[0]}: no text to look for terms in")
    return result


def suggest_terms(
    inputs: Sequence[str | os.PathLike], model: str | os.PathLike | None = None, options: SuggestOptions | None = None
) -> SuggestResult:
    options = options or SuggestOptions()
    options.check()
    tokenizer = load_tokenizer(model)
    corpus = load_sentences(inputs)
    dropped: Counter = Counter()
    seeds = {"sentencepiece": sentencepiece_pieces(corpus, options)} if options.use_sentencepiece else {}
    pool = chinese_candidates(corpus, options, dropped, seeds) + english_candidates(corpus, tokenizer, options, dropped)
    ranked = rank(pool, tokenizer, corpus_words(corpus), options, dropped)[: options.top]
    log.info(
        "suggest: %d sentences, %d candidates kept; dropped: %s",
        len(corpus),
        len(ranked),
        ", ".join(f"{count} {reason}" for reason, count in dropped.most_common()) or "none",
    )
    return SuggestResult(candidates=ranked, sentences=len(corpus), dropped=dropped)


# --- Chinese -------------------------------------------------------------------------------------------


def count_ngrams(runs: list[str], max_chars: int, min_freq: int) -> Counter:
    """Counts of Han n-grams, 1..max_chars long; an n-gram is counted only if both its (n-1)-gram
    parts are frequent (apriori pruning keeps memory proportional to the frequent n-grams)."""
    counts = Counter(char for run in runs for char in run)
    for n in range(2, max_chars + 1):
        level: Counter[str] = Counter()
        for run in runs:
            for start in range(len(run) - n + 1):
                gram = run[start : start + n]
                if counts[gram[:-1]] >= min_freq and counts[gram[1:]] >= min_freq:
                    level[gram] += 1
        frequent = {gram: count for gram, count in level.items() if count >= min_freq}
        if not frequent:
            break
        counts.update(frequent)
    return counts


def cohesion(gram: str, counts: Counter, total: int, typical_char: float) -> float:
    """Smallest PMI over the two-part cuts of `gram` (natural log)."""
    best = math.inf
    for cut in range(1, len(gram)):
        left, right = gram[:cut], gram[cut:]
        right_count = min(counts[right], typical_char) if right in PRODUCTIVE_SUFFIXES else counts[right]
        best = min(best, math.log(counts[gram] * total / (counts[left] * right_count)))
    return best


def branching_entropy(neighbours: Counter, boundaries: int) -> float:
    """Entropy of the neighbouring characters; each text boundary counts as a distinct neighbour."""
    total = sum(neighbours.values()) + boundaries
    if not total:
        return 0.0
    entropy = -sum(count / total * math.log(count / total) for count in neighbours.values())
    return entropy + boundaries * math.log(total) / total


def chinese_candidates(
    corpus: list[str], options: SuggestOptions, dropped: Counter, seeds: dict[str, set[str]] | None = None
) -> list[Candidate]:
    """Cohesive n-grams and seed words (origin -> words: jieba's, sentencepiece's, which need half the
    cohesion), then dropped if they are fragments, everyday words, clauses or cross a word boundary."""
    runs, run_sentence = [], []
    for index, sentence in enumerate(corpus):
        for match in _HAN_RUN.finditer(sentence):
            runs.append(match.group())
            run_sentence.append(index)
    if not runs:
        return []
    counts = count_ngrams(runs, options.max_chars, options.min_freq)
    total = sum(len(run) for run in runs)
    char_counts = sorted(count for gram, count in counts.items() if len(gram) == 1)
    typical_char = char_counts[int(len(char_counts) * 0.9)]
    origins: dict[str, set[str]] = defaultdict(set)
    for gram in counts:
        if len(gram) >= 2 and cohesion(gram, counts, total, typical_char) >= options.min_pmi:
            origins[gram].add("ngram")
    seeds = dict(seeds or {}, **({"jieba": set(_jieba_words(runs))} if options.use_jieba else {}))
    for origin, words in seeds.items():
        for word in words:
            if (
                len(word) >= 2
                and counts[word] >= options.min_freq
                and cohesion(word, counts, total, typical_char) >= options.min_pmi / 2
            ):
                origins[word].add(origin)
    dropped["Chinese n-grams below the cohesion (PMI) threshold"] += sum(1 for g in counts if len(g) >= 2) - len(
        origins
    )

    left: defaultdict[str, Counter[str]] = defaultdict(Counter)
    right: defaultdict[str, Counter[str]] = defaultdict(Counter)
    left_edge: Counter[str] = Counter()
    right_edge: Counter[str] = Counter()
    example: dict[str, int] = {}
    lengths = sorted({len(gram) for gram in origins})
    for run, sentence_index in zip(runs, run_sentence):
        for n in lengths:
            for start in range(len(run) - n + 1):
                gram = run[start : start + n]
                if gram not in origins:
                    continue
                example.setdefault(gram, sentence_index)
                if start:
                    left[gram][run[start - 1]] += 1
                else:
                    left_edge[gram] += 1
                if start + n < len(run):
                    right[gram][run[start + n]] += 1
                else:
                    right_edge[gram] += 1
    candidates = []
    for gram, sources in origins.items():
        if gram[0] in _BAD_FIRST or gram[-1] in _BAD_LAST:
            dropped["Chinese n-grams with a function character at an edge"] += 1
            continue
        freedom = min(branching_entropy(left[gram], left_edge[gram]), branching_entropy(right[gram], right_edge[gram]))
        if freedom < options.min_entropy:
            dropped["Chinese n-grams with too few distinct neighbours (fragments)"] += 1
            continue
        if is_chinese_clause(gram):
            dropped["Chinese n-grams that are clauses (function words inside)"] += 1
            continue
        candidates.append(Candidate(gram, counts[gram], 0, corpus[example[gram]], sources))
    return candidates


def is_chinese_clause(gram: str) -> bool:
    """Whether jieba's dictionary segmentation of `gram` shows a clause rather than a term: a particle,
    preposition or everyday verb as a word of its own anywhere, a determiner first or a position word
    last. Segmenting first keeps words that merely contain such a character (目的地, 所有者, 使用权);
    this check uses jieba's dictionary even with --no-jieba (which only turns off seeding)."""
    words = list(_jieba_cut(gram))
    return (
        any(word in _CLAUSE_WORDS_ZH for word in words)
        or words[0] in _LEADING_WORDS_ZH
        or words[-1] in _TRAILING_WORDS_ZH
    )


def _jieba_words(runs: list[str]) -> Iterable[str]:
    for run in tqdm(runs, desc="jieba", unit="run", disable=len(runs) < 20000):
        yield from _jieba_cut(run)


def _jieba_cut(text: str) -> Iterable[str]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.cut(text, HMM=False)  # dictionary words only: its HMM glues neighbouring single characters


# --- English -------------------------------------------------------------------------------------------


def english_candidates(corpus: list[str], tokenizer, options: SuggestOptions, dropped: Counter) -> list[Candidate]:
    """Words and 2..max_phrase_words-word phrases; uncased tokenizers merge capitalisations."""
    fold = str.lower if is_uncased(tokenizer) else str
    words: Counter[str] = Counter()
    surface: defaultdict[str, Counter[str]] = defaultdict(Counter)
    example: dict[str, int] = {}
    in_paths: Counter[str] = Counter()  # occurrences inside file paths, URLs and file names: /usr/lib, notes.txt
    for index, sentence, matches, keys in _latin_runs(corpus, fold):
        for key, match in zip(keys, matches):
            words[key] += 1
            surface[key][match.group()] += 1
            example.setdefault(key, index)
            before, after = sentence[match.start() - 1 : match.start()], sentence[match.end() : match.end() + 1]
            in_paths[key] += before in ("/", "\\", ".") or after in ("/", "\\")
    phrases = frequent_phrases(corpus, fold, words, options)
    for index, _, matches, keys in _latin_runs(corpus, fold):
        for n in range(2, options.max_phrase_words + 1):
            for start in range(len(keys) - n + 1):
                key = " ".join(keys[start : start + n])
                if key in phrases:
                    surface[key][" ".join(match.group() for match in matches[start : start + n])] += 1
                    example.setdefault(key, index)
    total = sum(words.values())

    def part_count(part: list[str]) -> int:
        return words[part[0]] if len(part) == 1 else phrases[" ".join(part)]

    candidates = []
    for key, count in words.items():
        if count < options.min_freq or len(key) < 3:
            continue
        if is_code_like(key):
            dropped["English words that are codes or identifiers (rw-rw-r, hex, mostly digits)"] += 1
        elif in_paths[key] * 2 >= count:
            dropped["English words seen mostly in file paths or names (usr, txt)"] += 1
        else:
            candidates.append(Candidate(surface[key].most_common(1)[0][0], count, 0, corpus[example[key]], {"word"}))
    for key, count in phrases.items():
        parts = key.split(" ")
        if parts[0] in _ENGLISH_FUNCTION_WORDS or parts[-1] in _ENGLISH_FUNCTION_WORDS:
            dropped["English phrases starting or ending with a function word"] += 1
            continue
        if len(set(parts)) < len(parts):
            dropped["English phrases repeating a word"] += 1
            continue
        if any(part.lower() in _ENGLISH_CLAUSE_WORDS or is_code_like(part) for part in parts):
            dropped["English phrases that are clauses or contain codes"] += 1
            continue
        pmi = min(
            math.log(count * total / (part_count(parts[:cut]) * part_count(parts[cut:])))
            for cut in range(1, len(parts))
        )
        if pmi < options.min_pmi:
            dropped["English phrases below the cohesion (PMI) threshold"] += 1
            continue
        candidates.append(
            Candidate(surface[key].most_common(1)[0][0], count, 0, corpus[example[key]], {"phrase"}, len(parts))
        )
    return candidates


def _latin_runs(corpus: list[str], fold) -> Iterable[tuple[int, str, list[re.Match], list[str]]]:
    """(sentence index, sentence, word matches, folded words) of each run of space-separated Latin words."""
    for index, sentence in enumerate(corpus):
        for run in _LATIN_RUN.finditer(sentence):
            matches = list(LATIN_WORD.finditer(sentence, run.start(), run.end()))
            yield index, sentence, matches, [fold(match.group()) for match in matches]


def frequent_phrases(corpus: list[str], fold, words: Counter[str], options: SuggestOptions) -> Counter[str]:
    """Counts of the 2..max_phrase_words-word phrases that occur at least min_freq times, one pass per
    length: a phrase is counted only when both its shorter parts are frequent, since it occurs no more
    often than they do; memory then holds the phrases that can still be frequent, not every phrase of the corpus."""
    frequent: Counter[str] = Counter({word: count for word, count in words.items() if count >= options.min_freq})
    phrases: Counter[str] = Counter()
    for n in range(2, options.max_phrase_words + 1):
        level: Counter[str] = Counter()
        for _, _, _, keys in _latin_runs(corpus, fold):
            for start in range(len(keys) - n + 1):
                if (
                    " ".join(keys[start : start + n - 1]) in frequent
                    and " ".join(keys[start + 1 : start + n]) in frequent
                ):
                    level[" ".join(keys[start : start + n])] += 1
        frequent = Counter({key: count for key, count in level.items() if count >= options.min_freq})
        phrases.update(frequent)
    return phrases


def is_code_like(word: str) -> bool:
    """Permission strings and option bundles (hyphen-joined parts mostly 1-2 characters: rw-rw-r),
    hex identifiers (deadbeef01), words with more digits than letters (x86, v2024) or with several
    digit runs (a1b2c3; formulas such as h2o2 go too - identifiers are far more common in that shape)."""
    parts = word.split("-")
    short_parts = sum(len(part) <= 2 for part in parts)
    digits = sum(char.isdigit() for char in word)
    return (
        (len(parts) > 1 and short_parts * 2 > len(parts))
        or digits * 2 > len(word) - word.count("-")
        or (_HEX_ID.fullmatch(word.lower()) is not None and digits >= 2)
        or len(_DIGIT_RUNS.findall(word)) > 1
    )


# --- sentencepiece -------------------------------------------------------------------------------------


def sentencepiece_pieces(corpus: list[str], options: SuggestOptions) -> set[str]:
    """Han pieces (2+ characters) of a unigram model trained on the corpus. They only seed the Chinese
    statistics, which filter them like any n-gram; whole Latin words are all counted there already."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    vocab_size = max(200, min(options.sentencepiece_vocab, len(set("".join(corpus))) * 4))
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=0.9995,
            hard_vocab_limit=False,
            max_sentencepiece_length=options.max_chars,
            minloglevel=2,
        )
    except RuntimeError as exc:
        log.warning(
            "sentencepiece could not be trained on this corpus (%s); its candidates are left out",
            str(exc).splitlines()[0],
        )
        return set()
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = (processor.id_to_piece(index).lstrip("\u2581") for index in range(processor.get_piece_size()))
    return {piece for piece in pieces if len(piece) >= 2 and _HAN_RUN.fullmatch(piece)}


# --- ranking -------------------------------------------------------------------------------------------


def rank(pool: list[Candidate], tokenizer, words: float, options: SuggestOptions, dropped: Counter) -> list[Candidate]:
    """Measure pieces and general-language rates, drop what the vocabulary already has and everyday
    words, rank by score, prune substrings, then credit compounds of listed terms and rank again."""
    if not pool:
        return []
    vocab = tokenizer.get_vocab()
    vocab_lower = {token.lower() for token in vocab} if is_uncased(tokenizer) else set()
    pieces = tokenizer([candidate.term for candidate in pool], add_special_tokens=False)["input_ids"]
    measured = []
    for candidate, ids in zip(pool, pieces):
        candidate.pieces = len(ids)
        candidate.rate = candidate.frequency / words
        if candidate.pieces <= 1 or candidate.term in vocab or candidate.term.lower() in vocab_lower:
            dropped["already in the vocabulary or one token"] += 1
            continue
        if len(candidate.term) > MAX_TERM_CHARS:
            dropped[f"longer than the {MAX_TERM_CHARS} characters expand accepts"] += 1
            continue
        candidate.general_rate = general_rate(candidate.term)
        if candidate.rate < options.domain_ratio * candidate.general_rate:
            dropped[f"everyday words (less than {options.domain_ratio:g}x their general-language rate)"] += 1
        else:
            measured.append(candidate)
    measured.sort(key=_rank_key)
    kept: list[Candidate] = []
    # kept terms by the keys of the terms they may contain: comparing each candidate with every better one
    # costs candidates x kept, and both grow with the corpus
    containing: defaultdict[str, list[Candidate]] = defaultdict(list)
    for candidate in measured:
        # Occurrences left once the better candidates containing this one have taken theirs.
        outer = containing[containment_keys(candidate.term)[0]]
        inside = sum(better.frequency * occurrences(candidate.term, better.term) for better in outer)
        alone = candidate.frequency - inside
        if inside and alone < max(2, 0.2 * candidate.frequency):
            dropped["substrings of better candidates"] += 1
            continue
        kept.append(candidate)
        for key in dict.fromkeys(containment_keys(candidate.term, every=True)):
            containing[key].append(candidate)
    # A Chinese compound of listed terms that general language does not list as one word (主服务器设定配置)
    # is a phrase: like an English phrase, it is credited with what it saves beyond its parts and is as
    # frequent in general language as its rarest part; and it ranks below all of its parts (shorter
    # compounds first, so that a part's own ceiling is known).
    listed = {candidate.term: candidate for candidate in kept if _HAN_RUN.fullmatch(candidate.term)}
    for candidate in sorted(listed.values(), key=lambda c: len(c.term)):
        parts = compound_parts(candidate.term, set(listed) - {candidate.term})
        if parts and not is_general_word(candidate.term):
            candidate.parts = parts
            candidate.general_rate = combined_rate(listed[part].general_rate for part in parts)
            candidate.ceiling = min(listed[part].score for part in parts) * COMPOUND_BELOW_PARTS
    return sorted(kept, key=_rank_key)


def is_general_word(term: str) -> bool:
    """Whether wordfreq's Chinese list has `term` as one word (文件系统 yes, 主服务器设定配置 no)."""
    import wordfreq

    return len(wordfreq.tokenize(term, "zh")) == 1


def _rank_key(candidate: Candidate):
    return -candidate.score, -candidate.tokens_saved, candidate.term


def general_rate(term: str) -> float:
    """How often `term` occurs per word of general language, from wordfreq: its Chinese list for Han
    terms (wordfreq makes each word break it has to infer in an unlisted string 10x rarer), its English
    list otherwise, a hyphenated word counted as one word of its parts (10x rarer per hyphen). The words
    of a phrase combine as wordfreq combines them (1/rate = sum of 1/rate of each), so a phrase is about
    as frequent as its rarest word: it is no more specific than that word."""
    import wordfreq

    if _HAN_RUN.search(term):
        return max(wordfreq.word_frequency(term, "zh"), BACKGROUND_FLOOR)
    if " " in term:
        return combined_rate(general_rate(word) for word in term.split())
    rate = wordfreq.word_frequency(term, "en") / INFERRED_BREAK_FACTOR ** (len(wordfreq.tokenize(term, "en")) - 1)
    return max(rate, BACKGROUND_FLOOR)


def combined_rate(rates: Iterable[float]) -> float:
    return 1 / sum(1 / rate for rate in rates)


def compound_parts(term: str, listed: set[str]) -> list[str]:
    """The fewest listed terms (2+ of them) that `term` is exactly made of (主服务器设定配置 ->
    主服务器 设定 配置), or [] when it is not a compound of listed terms."""
    best: list[list[str] | None] = [[]] + [None] * len(term)  # best[i]: fewest parts spelling term[:i]
    for end in range(1, len(term) + 1):
        for start in range(end):
            part = term[start:end]
            prefix, current = best[start], best[end]
            if prefix is not None and part in listed and (current is None or len(prefix) + 1 < len(current)):
                best[end] = prefix + [part]
    parts = best[-1] or []
    return parts if len(parts) >= 2 else []


def corpus_words(corpus: list[str]) -> float:
    """Words in the corpus: Latin words plus Han characters over the average Chinese word length."""
    han = sum(han_count(sentence) for sentence in corpus)
    latin = sum(len(LATIN_WORD.findall(sentence)) for sentence in corpus)
    return max(1.0, latin + han / CHINESE_CHARS_PER_WORD)


def containment_keys(term: str, every: bool = False) -> list[str]:
    """The Chinese term itself, or a Latin term's letter-and-digit runs (lowercase); with `every`, also all
    substrings of a Chinese term. A term `occurrences` finds inside another has its first key among the
    other's keys with `every`: a Latin match starts and ends at word boundaries, so its runs are whole runs."""
    if _HAN_RUN.fullmatch(term):
        return [term[i:j] for i in range(len(term)) for j in range(i + 1, len(term) + 1)] if every else [term]
    return _ALNUM_RUN.findall(term.lower())


def occurrences(inner: str, outer: str) -> int:
    """How often `inner` occurs in `outer`: anywhere for Chinese, as whole words for Latin terms
    (nitrification is not inside denitrification)."""
    if _HAN_RUN.fullmatch(inner):
        return outer.count(inner)
    return len(re.findall(rf"(?<![A-Za-z0-9]){re.escape(inner)}(?![A-Za-z0-9])", outer, flags=re.IGNORECASE))


TSV_COLUMNS = (
    "term",
    "score",
    "tokens_saved",
    "specificity",
    "frequency",
    "per_million",
    "general_per_million",
    "pieces",
    "made_of",
    "example",
)


def write_terms_tsv(path: str | os.PathLike, candidates: list[Candidate]) -> None:
    """One candidate per line, best first, with the figures its rank comes from (see the module docstring)."""
    with atomic_write(path) as handle:
        handle.write("\t".join(TSV_COLUMNS) + "\n")
        for candidate in candidates:
            row = (
                candidate.term,
                f"{candidate.score:.1f}",
                candidate.tokens_saved,
                f"{candidate.specificity:.3f}",
                candidate.frequency,
                f"{candidate.rate * 1e6:.1f}",
                f"{candidate.general_rate * 1e6:.3g}",
                candidate.pieces,
                " + ".join(candidate.parts),
                re.sub(r"\s+", " ", candidate.example)[:160],
            )
            handle.write("\t".join(map(str, row)) + "\n")
