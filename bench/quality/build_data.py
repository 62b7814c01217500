"""Build the human-question quality benchmark from Debian documentation packages.

    python bench/quality/build_data.py [--cache bench/quality/cache] [--domains perl,cvs,gnome-zh]

Per domain it downloads the packages (`apt-get download`, `dpkg-deb -x`) and writes, under
`<cache>/<domain>/`:

    corpus.txt   the documentation a user would give `wmemb run`, with every FAQ question removed
                 (answers stay), so the questions never leak into the training text
    eval/        a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) for `wmemb evaluate`:
                 the same documentation cut into passages, each human question marked relevant to
                 the passage(s) holding its answer
    meta.json    packages and versions, licence, counts, questions dropped and why

Domains (see README.md beside this file for licences):
    perl      perlfaq1-9 questions; corpus = their answers + core Perl manual pages (perl-doc)
    cvs       the CVS FAQ's questions; corpus = their answers + the CVS manual (cvs)
    fetchmail the fetchmail FAQ's questions; corpus = their answers + the fetchmail manual page (fetchmail);
              a third English domain that played no part in tuning the defaults (issue 24)
    gnome-zh  GNOME Help in Simplified Chinese: page titles (human-written task headings) as
              queries; corpus = page bodies (gnome-user-docs); for mechanics, not quality, with an
              encoder whose vocabulary has no CJK characters
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_ANSWER_CHARS = 80  # shorter "answers" are pointers ("See perlfunc") with nothing to retrieve


@dataclass
class Section:
    """One stretch of documentation; `question` is set when it is an FAQ answer (and never written out)."""

    text: str
    heading: str = ""
    question: str = ""


@dataclass
class Domain:
    name: str
    packages: list[str]
    licence: str
    max_passage_chars: int
    sections: list[Section] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# --- packages -------------------------------------------------------------------------------------


def fetch(package: str, debs: Path) -> tuple[Path, str]:
    """Download and unpack a Debian package once; returns its root folder and version."""
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", "-q", package], cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    deb = found[-1]
    root = debs / "x" / package
    if not root.is_dir():
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
        partial.rename(root)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True)
    return root, version.stdout.strip()


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


# --- Perl: POD --------------------------------------------------------------------------------------

PERL_MANUALS = ["perlintro", "perlsyn", "perldata", "perlop", "perlsub", "perlvar", "perlre", "perlref"]


def pod_inline(text: str) -> str:
    """POD formatting codes to plain text; links show their text or page name, never a section title
    (perlfaq links name other FAQ questions)."""
    text = re.sub(r"[XZ]<+[^<>]*>+", "", text)
    for n in (4, 3, 2):  # C<< $a <=> $b >> style codes may hold single angle brackets
        text = re.sub(rf"([A-Z]){'<' * n}\s+(.*?)\s+{'>' * n}", lambda m: _code(m[1], m[2]), text, flags=re.S)
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"([A-Z])<([^<>]*)>", lambda m: _code(m[1], m[2]), text)
    return text


ENTITIES = {"lt": "<", "gt": ">", "sol": "/", "verbar": "|", "quot": '"', "amp": "&"}


def _code(kind: str, inner: str) -> str:
    if kind == "E":
        if inner in ENTITIES:
            return ENTITIES[inner]
        return chr(int(inner, 0)) if inner[:1].isdigit() else ""  # E<0xEF>, E<233>; other names are rare
    if kind == "L":
        if "|" in inner:
            return inner.split("|", 1)[0]
        if "://" in inner:
            return inner
        page = inner.split("/", 1)[0].strip()
        # L</"section">, L<"section"> and L<section with spaces> point into a page, not at one
        return page if page and not page.startswith('"') and " " not in page else "this document"
    return inner


def pod_sections(pod: str) -> list[tuple[int, str, list[str]]]:
    """(heading level, heading, paragraphs) per =head; verbatim paragraphs kept as they are."""
    sections: list[tuple[int, str, list[str]]] = [(0, "", [])]
    in_pod, skipping = True, False
    for block in re.split(r"\n[ \t]*\n", pod):
        if not block.strip():
            continue
        command = re.match(r"=(\w+)\s*(.*)", block, re.S)
        if command:
            name, rest = command[1], " ".join(command[2].split())
            in_pod = name != "cut"
            if name in ("begin", "end"):
                skipping = name == "begin" and not rest.startswith("text")
            elif name.startswith("head"):
                sections.append((int(name[4:]), pod_inline(rest), []))
            elif name == "item" and rest not in ("*", "") and not skipping:
                sections[-1][2].append(pod_inline(rest))
            continue
        if not in_pod or skipping:
            continue
        if block[:1] in (" ", "\t"):
            sections[-1][2].append(block.rstrip())
        else:
            sections[-1][2].append(" ".join(pod_inline(block).split()))
    return sections


def build_perl(domain: Domain, debs: Path) -> dict[str, str]:
    root, version = fetch("perl-doc", debs)
    pods = next(root.glob("usr/share/perl/*/pod"))
    for number in range(1, 10):
        for level, heading, paragraphs in pod_sections(read_text(pods / f"perlfaq{number}.pod")):
            if level != 2:  # NAME / DESCRIPTION / AUTHOR AND COPYRIGHT of each perlfaq page
                continue
            domain.sections.append(Section("\n\n".join(paragraphs), question=heading))
    for manual in PERL_MANUALS:
        for _level, heading, paragraphs in pod_sections(read_text(pods / f"{manual}.pod")):
            if heading in ("NAME", "AUTHOR", "SEE ALSO") or not paragraphs:
                continue
            domain.sections.append(Section("\n\n".join(paragraphs), heading=heading))
    return {"perl-doc": version}


# --- CVS: the FAQ (plain text) and the manual (info) -----------------------------------------------------


def build_cvs(domain: Domain, debs: Path) -> dict[str, str]:
    root, version = fetch("cvs", debs)
    domain.sections += cvs_faq(read_text(root / "usr/share/doc/cvs/FAQ.gz"))
    domain.sections += info_sections(read_text(root / "usr/share/info/cvs.info.gz"))
    return {"cvs": version}


def cvs_faq(text: str) -> list[Section]:
    """Entries look like `    12. Question text (maybe wrapped)` then the answer, then `Last modified: ...`."""
    sections = []
    category = ""
    question: list[str] | None = None
    answer: list[str] = []
    in_question = False

    def close() -> None:
        if question is not None and category not in ("", "/"):  # "/" holds the FAQ-O-Matic preamble
            sections.append(Section(_dedent(answer), question=" ".join(" ".join(question).split())))

    for line in text.splitlines():
        entry = re.match(r"^ {4}\d+\. (\S.*)", line)
        heading = re.match(r"^ {2}Category: (\S+)", line)
        if entry or heading:
            close()
            question, answer, in_question = None, [], False
            if heading:
                category = heading[1]
            else:
                question, in_question = [entry[1]], True
            continue
        if question is None:
            continue
        if in_question:
            if line.strip():
                question.append(line.strip())
            else:
                in_question = False
            continue
        if line.strip().startswith("Last modified:"):
            close()
            question = None
            continue
        answer.append(line)
    close()
    return sections


def _dedent(lines: list[str]) -> str:
    paragraphs = "\n".join(line.strip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", paragraphs)


def info_sections(text: str) -> list[Section]:
    """Info nodes: drop the navigation line, menus and index nodes; keep the node title as a heading."""
    sections = []
    for node in text.split("\x1f")[1:]:
        lines = node.strip("\n").splitlines()
        if not lines or not lines[0].startswith("File:"):
            continue
        body = lines[1:]
        title = ""
        if len(body) > 1 and re.fullmatch(r"[*=\-.]+", body[1].strip() or "x"):
            title, body = body[0].strip(), body[2:]
        if "Index" in title:
            continue
        kept = [line for line in body if not re.match(r"^\* (Menu:|.*::)", line)]
        content = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
        if content:
            sections.append(Section(content, heading=title))
    return sections


# --- fetchmail: the FAQ (HTML) and the manual page (roff, rendered by groff) ----------------------------


def build_fetchmail(domain: Domain, debs: Path) -> dict[str, str]:
    root, version = fetch("fetchmail", debs)
    docs = root / "usr/share/doc/fetchmail"
    domain.sections += fetchmail_faq(read_text(docs / "fetchmail-FAQ.html"))
    domain.sections += man_sections(render_man(root / "usr/share/man/man1/fetchmail.1.gz"))
    return {"fetchmail": version}


def fetchmail_faq(page: str) -> list[Section]:
    """Entries are `<h2><a id="G1">G1. Question</a></h2>` then the answer, up to the next h1/h2/hr. The
    tables of contents before the first part (`<h1 id="G">`) list every question and are left out."""
    body = page[page.index('<h1 id="G">') :]
    sections = []
    for match in re.finditer(r"<h2>(.*?)</h2>(.*?)(?=<h[12][ >]|<hr|\Z)", body, re.S):
        question = re.sub(r"^[A-Z]+\d+\.\s*", "", html_text(match[1]))
        sections.append(Section(html_text(match[2]), question=question))
    return sections


def html_text(fragment: str) -> str:
    """Paragraphs of an HTML fragment as plain text: block ends become blank lines, <pre> keeps its lines."""
    fragment = re.sub(r"(?s)<pre[^>]*>(.*?)</pre>", lambda m: "\n\n" + m[1].replace("\n", "\x00") + "\n\n", fragment)
    fragment = re.sub(r"(?i)</?(p|ul|ol|li|dl|dt|dd|table|tr|blockquote|h\d|div|br)\b[^>]*>", "\n\n", fragment)
    text = html.unescape(re.sub(r"<[^>]+>", "", fragment))
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p).replace("\x00", "\n")


def render_man(path: Path) -> str:
    """A manual page as text, via groff (Debian's groff-base); no hyphenation, wide lines."""
    if shutil.which("groff") is None:
        raise SystemExit(
            "build_data.py: the fetchmail domain needs groff to render its manual page; apt-get install groff-base"
        )
    roff = read_text(path)
    rendered = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-cbou", "-rHY=0", "-rLL=200n"],
        input=roff,
        capture_output=True,
        text=True,
        check=True,
    )
    return rendered.stdout


def man_sections(text: str) -> list[Section]:
    """Top-level sections (`NAME`, `DESCRIPTION`, ... at column 0) with their paragraphs; the page
    header and footer lines are dropped, justified spacing is collapsed."""
    sections: list[Section] = []
    heading, lines = "", []

    def close() -> None:
        paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", "\n".join(lines))]
        content = "\n\n".join(p for p in paragraphs if p)
        if heading and heading not in ("NAME", "AUTHOR", "AUTHORS", "SEE ALSO") and content:
            sections.append(Section(content, heading=heading.title()))

    for line in text.splitlines()[1:-1]:  # the first and last lines are the page's header and footer
        if re.fullmatch(r"[A-Z][A-Z0-9 ,()/-]+", line):
            close()
            heading, lines = line.strip(), []
        else:
            lines.append(line)
    close()
    return sections


# --- GNOME Help, Simplified Chinese (Mallard XML) --------------------------------------------------------

MALLARD = "{http://projectmallard.org/1.0/}"
CJK = re.compile(r"[\u4e00-\u9fff]")


def build_gnome_zh(domain: Domain, debs: Path) -> dict[str, str]:
    root, version = fetch("gnome-user-docs", debs)
    for page in sorted((root / "usr/share/help/zh_CN/gnome-help").glob("*.page")):
        tree = ET.parse(page).getroot()
        title_element = tree.find(f"{MALLARD}title")
        title = " ".join("".join(title_element.itertext()).split()) if title_element is not None else ""
        paragraphs = [text for text in _mallard_blocks(tree) if text]
        if not paragraphs:
            domain.skip("page without body text")
            continue
        body = "\n\n".join(paragraphs)
        if CJK.search(title):
            domain.sections.append(Section(body, question=title))
        else:
            domain.skip("page title not translated (no Chinese characters)")
            domain.sections.append(Section(body))
    return {"gnome-user-docs": version}


def _mallard_blocks(page: ET.Element) -> list[str]:
    """Text of paragraphs, code blocks and section titles, skipping <info> and the page's own title."""
    blocks = []

    def walk(element: ET.Element, top: bool) -> None:
        for child in element:
            tag = child.tag.removeprefix(MALLARD)
            if tag == "info" or (top and tag == "title"):
                continue
            if tag in ("p", "title", "screen", "code") and not isinstance(child.tag, type(ET.Comment)):
                blocks.append(" ".join("".join(child.itertext()).split()))
            else:
                walk(child, False)

    walk(page, True)
    return blocks


DOMAINS = {
    "perl": (
        build_perl,
        ["perl-doc"],
        "Same terms as Perl itself (Artistic License 1.0 or GPL-1.0-or-later); perlfaq code examples public domain",
        1000,
    ),
    "cvs": (
        build_cvs,
        ["cvs"],
        "FAQ: GPL-1.0-or-later (shipped in CVS, (C) Free Software Foundation); manual: the FSF's manual permission"
        " notice (verbatim and modified copies may be distributed)",
        1000,
    ),
    "fetchmail": (
        build_fetchmail,
        ["fetchmail"],
        "GPL-2.0-or-later (fetchmail's FAQ and manual page, shipped in fetchmail)",
        1000,
    ),
    "gnome-zh": (build_gnome_zh, ["gnome-user-docs"], "CC-BY-SA-3.0 (GNOME Documentation Project)", 400),
}


# --- passages, leak check, output -----------------------------------------------------------------------


def chunk(text: str, limit: int) -> list[str]:
    """Whole paragraphs packed up to `limit` characters; a longer paragraph is cut at line or sentence ends."""
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        while len(paragraph) > limit:
            cut = max(paragraph.rfind("\n", 0, limit), paragraph.rfind(". ", 0, limit), paragraph.rfind("。", 0, limit))
            cut = cut + 1 if cut > limit // 3 else limit
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if paragraph.strip():
            pieces.append(paragraph.strip())
    passages: list[str] = []
    for piece in pieces:
        if passages and len(passages[-1]) + 2 + len(piece) <= limit:
            passages[-1] += "\n\n" + piece
        else:
            passages.append(piece)
    return passages


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


CONTROL = re.compile(r"\x00\x08\[[^\x00]*\x00\x08\]|[\x00-\x08\x0b-\x1f\x7f]")  # info's index markers too


def write_domain(domain: Domain, out: Path, versions: dict[str, str]) -> dict:
    for section in domain.sections:
        section.text = CONTROL.sub("", section.text)
    corpus_text = "\n\n".join(
        (f"{s.heading}\n\n{s.text}" if s.heading else s.text) for s in domain.sections if s.text.strip()
    )
    flat_corpus = normalise(corpus_text)
    passages: list[dict] = []
    queries: list[dict] = []
    qrels: list[tuple[str, str]] = []
    for section in domain.sections:
        chunks = chunk(
            f"{section.heading}\n\n{section.text}" if section.heading else section.text, domain.max_passage_chars
        )
        ids = [f"{domain.name}-p{len(passages) + i:05d}" for i in range(len(chunks))]
        passages += [{"_id": pid, "title": "", "text": text} for pid, text in zip(ids, chunks)]
        if not section.question:
            continue
        if len(section.text) < MIN_ANSWER_CHARS:
            domain.skip(f"answer under {MIN_ANSWER_CHARS} characters")
            continue
        if normalise(section.question) in flat_corpus:
            domain.skip("question text appears verbatim in the corpus")
            continue
        query_id = f"{domain.name}-q{len(queries):04d}"
        queries.append({"_id": query_id, "text": section.question})
        qrels += [(query_id, pid) for pid in ids]

    if out.exists():
        shutil.rmtree(out)
    (out / "eval" / "qrels").mkdir(parents=True)
    (out / "corpus.txt").write_text(corpus_text + "\n", encoding="utf-8")
    for name, rows in (("corpus.jsonl", passages), ("queries.jsonl", queries)):
        with (out / "eval" / name).open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    with (out / "eval" / "qrels" / "test.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(f"{qid}\t{pid}\t1\n" for qid, pid in qrels)
    meta = {
        "domain": domain.name,
        "packages": versions,
        "licence": domain.licence,
        "questions": len(queries),
        "questions_ending_in_question_mark": sum(q["text"].rstrip().endswith(("?", "？")) for q in queries),
        "passages": len(passages),
        "relevant_pairs": len(qrels),
        "corpus_chars": len(corpus_text),
        "max_passage_chars": domain.max_passage_chars,
        "skipped": domain.skipped,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def build(names: list[str], cache: Path) -> dict[str, dict]:
    results = {}
    for name in names:
        builder, packages, licence, limit = DOMAINS[name]
        domain = Domain(name, packages, licence, limit)
        versions = builder(domain, cache / "debs")
        results[name] = write_domain(domain, cache / name, versions)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=HERE / "cache", help="where packages and built data go")
    parser.add_argument("--domains", default=",".join(DOMAINS), help=f"comma-separated: {', '.join(DOMAINS)}")
    args = parser.parse_args()
    names = [name for name in args.domains.split(",") if name]
    unknown = sorted(set(names) - set(DOMAINS))
    if unknown:
        parser.error(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    for name, meta in build(names, args.cache).items():
        print(
            f"{name}: {meta['questions']} questions, {meta['passages']} passages, "
            f"{meta['corpus_chars']:,} corpus characters; skipped {meta['skipped']}"
        )


if __name__ == "__main__":
    main()
