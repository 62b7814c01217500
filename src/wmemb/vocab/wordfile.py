"""Term lists for `expand`: read word files and check every term before anything is changed.

A word file is plain text, one term per line; `#` starts a comment (whole line or trailing), blank
lines are ignored. UTF-8 with or without BOM, UTF-16, and GBK/GB18030 files are recognised. A TSV
written by `wmemb vocab suggest` is accepted too: only its first column is read and its header
line is skipped, so a person can edit the suggestions and pass the file straight to `expand`.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from wmemb.corpus.read import decode_bytes, warn_guessed_encoding
from wmemb.errors import WMEmbError

MAX_TERM_CHARS = 32
# Each new term's embedding learns only from the training pairs that contain it, so a useful list is tens to a
# few hundred well-covered terms; past this many, expansion runs for many minutes and gigabytes to add rows
# that training never reaches.
MAX_TERMS = 2000
TSV_HEADER_FIRST_COLUMN = "term"


def read_word_file(path: str | Path) -> list[str]:
    """The terms of a word file, in file order, validated (see `validate_terms`)."""
    source = Path(path)
    if not source.is_file():
        raise WMEmbError(f"{source}: word file not found; check the path, or pass the terms with --words")
    text = _decode(source.read_bytes(), source)
    terms: list[str] = []
    locations: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split("\t", 1)[0].strip()
        if not content or (not terms and content == TSV_HEADER_FIRST_COLUMN and "\t" in line):
            continue
        terms.append(content)
        locations.append(f"{source}:{lineno}")
    if not terms:
        raise WMEmbError(f"{source}: no terms in this word file (one term per line; # starts a comment)")
    return validate_terms(terms, locations, source=str(source))


def _decode(data: bytes, source: Path) -> str:
    """Like corpus files, except that non-UTF-8 bytes are tried as GB18030 (GBK's superset) first:
    a word file is a few short lines, too little for a statistical encoding guess."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            pass
        else:
            warn_guessed_encoding(source, "gb18030", data)
            return text
    return decode_bytes(data, source)[0]


def validate_terms(terms: list[str], locations: list[str] | None = None, source: str = "the term list") -> list[str]:
    """Strip surrounding spaces and reject what can never be a token; the first problem is the error.

    `locations` names where each term came from (file:line) for the message; default: its position.
    `source` names the list as a whole (the word file).
    """
    if not terms:
        raise WMEmbError("empty word list; pass at least one term (--words or --words-file)")
    if len(terms) > MAX_TERMS:
        raise WMEmbError(
            f"{source}: {len(terms):,} terms, more than the {MAX_TERMS:,} expand adds (a new term learns only from "
            "the training pairs that contain it: tens to a few hundred well-covered terms is the useful range); "
            "keep the most important ones, e.g. the top rows of `wmemb vocab suggest`"
        )
    where = locations or [f"term {index + 1}" for index in range(len(terms))]
    cleaned = []
    for term, location in zip(terms, where):
        if not isinstance(term, str):
            raise WMEmbError(f"{location}: terms must be strings, got {type(term).__name__}")
        stripped = term.strip()
        if not stripped:
            raise WMEmbError(f"{location}: empty or whitespace-only term; remove it")
        control = next(
            (char for char in stripped if unicodedata.category(char) in ("Cc", "Cf") or char in "\t\r\n"), None
        )
        if control is not None:
            raise WMEmbError(
                f"{location}: term {stripped!r} contains the control character U+{ord(control):04X}; remove it"
            )
        if len(stripped) > MAX_TERM_CHARS:
            raise WMEmbError(
                f"{location}: term {stripped[:20]!r}... is {len(stripped)} characters long (at most {MAX_TERM_CHARS}); "
                "use a shorter term"
            )
        cleaned.append(stripped)
    return cleaned
