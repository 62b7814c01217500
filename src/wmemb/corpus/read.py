"""Reading domain documents: text, Markdown, PDF and HTML, in whatever encoding they came in.

Returns `Document`s holding the extracted text exactly as split will see it, so that the
"nothing lost" guarantee can be checked against it. Encodings: BOMs first (UTF-8, UTF-16), then
strict UTF-8, then charset-normalizer's best guess (GB2312/GBK are widened to GB18030, their superset).
"""

from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from wmemb.corpus.headings import Heading, find_headings
from wmemb.errors import WMEmbError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
# A file is read whole (and held several times over while decoded and split); 200 MB of text is some
# 400,000 passages, days of question writing. Larger files are refused before any byte is read.
MAX_FILE_BYTES = 200_000_000


@dataclass(frozen=True)
class Document:
    source: str  # path as given/found, used in node records
    text: str
    headings: tuple[Heading, ...] = ()  # in text order; passages start at them


@dataclass
class ReadReport:
    """What was read and what was passed over (never silently)."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) for files inside folders
    encodings: dict[str, str] = field(default_factory=dict)
    boilerplate_lines: int = 0  # PDF running headers / page numbers removed
    boilerplate_chars: int = 0


def read_corpus(inputs: list[str | Path]) -> ReadReport:
    """Read files and folders (recursively, supported suffixes only).

    A file named explicitly must be readable and non-empty (else WMEmbError). Inside a folder,
    unsupported, empty or unreadable files are skipped and listed in the report.
    """
    if not inputs:
        raise WMEmbError("no input given; pass one or more files or folders")
    report = ReadReport()
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise WMEmbError(f"{path}: no such file or folder; check the path")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            supported = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
            report.skipped += [
                (str(p), "unsupported file type") for p in files if p.suffix.lower() not in SUPPORTED_SUFFIXES
            ]
            if not supported:
                raise WMEmbError(
                    f"{path}: no supported files in this folder (looked for {', '.join(sorted(SUPPORTED_SUFFIXES))})"
                )
            for file in supported:
                try:
                    _read_into(report, file)
                except WMEmbError as exc:
                    # the reason without the advice, which is for a file the user named
                    report.skipped.append((str(file), str(exc).removeprefix(f"{file}: ").split("; ")[0]))
            if not report.documents:
                raise WMEmbError(
                    f"{path}: none of its {len(supported)} supported files had readable text ({report.skipped[-1][1]})"
                )
        else:
            _read_into(report, path)
    for skipped, reason in report.skipped:
        log.warning("skipped %s: %s", skipped, reason)
    return report


def _read_into(report: ReadReport, path: Path) -> None:
    _check_bounded(path)
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, removed_lines, removed_chars = _read_pdf(path)
        report.boilerplate_lines += removed_lines
        report.boilerplate_chars += removed_chars
        encoding = "pdf"
        headings = find_headings(text, str(path))
    else:
        text, encoding = decode_bytes(path.read_bytes(), path)
        if suffix in HTML_SUFFIXES:
            text, headings = html_to_text(text)
        else:
            headings = find_headings(text, str(path))
    if not text.strip():
        raise WMEmbError(f"{path}: no text in this file (empty{' or scanned images only' if suffix == '.pdf' else ''})")
    report.encodings[str(path)] = encoding
    report.documents.append(Document(source=str(path), text=text, headings=tuple(headings)))


def _check_bounded(path: Path) -> None:
    """Only regular files up to MAX_FILE_BYTES: a device (/dev/zero) or FIFO never ends, and reading one, or a
    huge file, would fill the memory until the kernel kills the process."""
    try:
        info = path.stat()
    except OSError as exc:
        raise WMEmbError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise WMEmbError(
            f"{path}: not a regular file (a device, FIFO or socket has no end to read); "
            "save the text to a file and pass that"
        )
    if info.st_size > MAX_FILE_BYTES:
        raise WMEmbError(
            f"{path}: {info.st_size / 1e6:,.0f} MB, more than the {MAX_FILE_BYTES / 1e6:,.0f} MB wmemb reads from one "
            "file; pass the parts of the domain that matter, or split it into several files"
        )


def decode_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a text file's bytes; returns (text, encoding name)."""
    if not data.strip():
        raise WMEmbError(f"{path}: empty file; pass a file with text in it")
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise WMEmbError(
                    f"{path}: has a {encoding} byte-order mark but is not valid {encoding}; re-save it as UTF-8"
                ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if "\x00" in text:
            raise WMEmbError(
                f"{path}: looks like a binary file (contains NUL bytes); pass text, Markdown, HTML or PDF files"
            )
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None or _looks_binary(data):
        raise WMEmbError(
            f"{path}: cannot decode this file as text (binary, or an unknown encoding); convert it to UTF-8"
        )
    encoding = best.encoding
    if encoding.replace("-", "").replace("_", "").lower() in {"gb2312", "gbk", "cp936", "hz"}:
        encoding = "gb18030"  # GBK files often contain characters outside GB2312; GB18030 decodes all of them
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise WMEmbError(
            f"{path}: bytes that are not valid {encoding} (file damaged or mixed encodings); convert it to UTF-8"
        ) from None
    warn_guessed_encoding(path, encoding, data)
    return text, encoding


def warn_guessed_encoding(path: Path, encoding: str, data: bytes) -> None:
    """Say which encoding a non-UTF-8 file was read in: a guess can be wrong, most of all when few bytes
    are non-ASCII (a stray byte in an English file)."""
    high = sum(byte >= 0x80 for byte in data)
    log.warning(
        "%s: not UTF-8; read as %s, guessed from its %d non-ASCII byte(s) - if its text comes out wrong, "
        "save the file as UTF-8",
        path,
        encoding,
        high,
    )


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control > len(sample) * 0.05


_BLOCK_TAGS = [
    "p",
    "div",
    "li",
    "tr",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "section",
    "article",
    "table",
    "ul",
    "ol",
    "dt",
    "dd",
    "blockquote",
    "title",
    "header",
    "footer",
]


_HEADING_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def html_to_text(markup: str) -> tuple[str, list[Heading]]:
    """Visible text of an HTML page, one block element per paragraph, and its h1-h6 headings."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    # Each heading's text is swapped for a NUL-delimited placeholder (NUL never occurs in decoded text),
    # so its offsets in the final text can be found after whitespace is folded.
    titles: list[tuple[int, str]] = []
    for tag in soup.find_all(_HEADING_TAGS):
        title = " ".join(tag.get_text().split())
        if title:
            tag.string = f"\x00{len(titles)}\x00"
            titles.append((int(tag.name[1]), title))
    text = re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n\n", soup.get_text()).strip()
    pieces: list[str] = []
    headings: list[Heading] = []
    length = pos = 0
    for match in _PLACEHOLDER.finditer(text):
        level, title = titles[int(match.group(1))]
        pieces.append(text[pos : match.start()])
        length += match.start() - pos
        headings.append(Heading(length, length + len(title), level, title))
        pieces.append(title)
        length += len(title)
        pos = match.end()
    pieces.append(text[pos:])
    return "".join(pieces), headings


_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]?\s*\d{1,4}\s*[-–—]?|page\s+\d+(?:\s+of\s+\d+)?|第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)\s*$",
    re.I,
)


def _read_pdf(path: Path) -> tuple[str, int, int]:
    """Text of a PDF with page numbers and running headers/footers removed (they are counted)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise WMEmbError(f"{path}: not a readable PDF ({exc}); check the file or convert it to text") from None
    page_lines = [[line for line in page.splitlines()] for page in pages]
    # A running header/footer is a first or last line that repeats on many pages.
    edge_counts: dict[str, int] = {}
    for lines in page_lines:
        stripped = [line.strip() for line in lines if line.strip()]
        for edge in {stripped[0], stripped[-1]} if stripped else set():
            edge_counts[edge] = edge_counts.get(edge, 0) + 1
    repeated = {line for line, count in edge_counts.items() if len(pages) >= 3 and count >= max(3, len(pages) * 0.3)}
    removed_lines = removed_chars = 0
    kept_pages = []
    for lines in page_lines:
        content = [i for i, line in enumerate(lines) if line.strip()]
        edges = {content[0], content[-1]} if content else set()
        kept = []
        for i, line in enumerate(lines):
            if i in edges and (line.strip() in repeated or _PAGE_NUMBER.match(line)):
                removed_lines += 1
                removed_chars += len("".join(line.split()))
                continue
            kept.append(line)
        kept_pages.append("\n".join(kept))
    return "\n".join(kept_pages), removed_lines, removed_chars
