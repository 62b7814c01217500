import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from wmemb.corpus.read import MAX_FILE_BYTES, read_corpus
from wmemb.errors import WMEmbError

ZH = "革兰氏阳性菌的细胞壁较厚。芽孢杆菌能形成芽孢，抵抗高温。"
EN = "Gram-positive bacteria have a thick cell wall. Bacillus forms spores that resist heat."
SRC = Path(__file__).parents[2] / "src"


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    """A minimal real PDF (Helvetica text, one line per string) - enough for pypdf to extract."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = "BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
            f"/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_text_files_decode_in_common_chinese_encodings(tmp_path, encoding):
    # Enough text for detection; GBK is what Chinese Windows tools write by default.
    text = (ZH + "\n" + EN + "\n") * 20
    path = tmp_path / f"book-{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    report = read_corpus([path])
    assert report.documents[0].text.replace("\r\n", "\n") == text
    if encoding in ("gbk", "gb18030"):
        assert report.encodings[str(path)] == "gb18030"


def test_html_keeps_visible_text_only_with_blocks_as_paragraphs(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><head><title>T</title><style>p{{color:red}}</style></head><body>"
        f"<h1>细菌</h1><p>{ZH}</p><script>var x = 1;</script><ul><li>{EN}</li></ul></body></html>",
        encoding="utf-8",
    )
    text = read_corpus([page]).documents[0].text
    assert text.split("\n\n") == ["细菌", ZH, EN]


def test_pdf_text_is_extracted_and_page_numbers_and_running_headers_removed(tmp_path):
    pdf = tmp_path / "manual.pdf"
    pages = [
        ["Microbiology Handbook", f"Chapter text number {i} about spores and cell walls.", f"{i + 1}"] for i in range(4)
    ]
    write_pdf(pdf, pages)
    report = read_corpus([pdf])
    text = report.documents[0].text
    assert "Chapter text number 0 about spores" in text and "number 3" in text
    assert "Microbiology Handbook" not in text
    assert report.boilerplate_lines == 8  # 4 headers + 4 page numbers, counted


def test_pdf_numbered_section_lines_are_headings_even_without_blank_lines(tmp_path):
    pdf = tmp_path / "guide.pdf"
    body = "Spores survive heat and drying for years."
    write_pdf(pdf, [["1. Introduction", body, "1.1 Scope", body, "Steps:", "1. Stop the service", "2. Edit the file"]])
    doc = read_corpus([pdf]).documents[0]
    assert [(h.level, h.title) for h in doc.headings] == [(1, "1. Introduction"), (2, "1.1 Scope")]


def test_folder_reads_supported_files_recursively_and_reports_skipped_ones(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text(EN, encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text("# 标题\n\n" + ZH, encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    report = read_corpus([tmp_path])
    assert sorted(Path(d.source).name for d in report.documents) == ["a.txt", "b.md"]
    assert sorted((Path(p).name, reason) for p, reason in report.skipped) == [
        ("empty.txt", "empty file"),
        ("image.png", "unsupported file type"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary\x00" * 50, "binary"),
        (bytes(range(256)) * 40, "binary"),
        (b"\xff\xfe" + "细菌".encode("utf-16-le") + b"\x00", "not valid utf-16"),  # undecodable: truncated UTF-16
    ],
)
def test_bad_files_named_explicitly_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(WMEmbError, match=message) as info:
        read_corpus([path])
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_path_and_folder_without_supported_files(tmp_path):
    with pytest.raises(WMEmbError, match="no such file or folder"):
        read_corpus([tmp_path / "nope.txt"])
    (tmp_path / "x.bin").write_bytes(b"abc")
    with pytest.raises(WMEmbError, match="no supported files"):
        read_corpus([tmp_path])


@pytest.mark.parametrize(
    "data",
    [
        b"An English note about the caf\xe9 and its menu.\n" * 3,  # Latin-1: a stray high byte in ASCII text
        "革兰氏阳性菌的细胞壁很厚，染色后呈紫色。\n".encode("gbk") * 3,
    ],
    ids=["mostly-ascii", "gbk"],
)
def test_a_guessed_encoding_is_named_in_a_warning(tmp_path, caplog, data):
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="wmemb.corpus.read"):
        report = read_corpus([path])
    encoding = report.encodings[str(path)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert encoding not in ("utf-8", "utf-8-sig")
    assert len(warnings) == 1 and str(path) in warnings[0] and f"read as {encoding}" in warnings[0]
    assert "save the file as UTF-8" in warnings[0]


def test_utf8_files_are_read_without_a_warning(tmp_path, caplog):
    path = tmp_path / "notes.txt"
    path.write_text("革兰氏阳性菌 and the café.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="wmemb.corpus.read"):
        read_corpus([path])
    assert not caplog.records


def test_a_file_past_the_size_limit_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:  # sparse: takes no disk space, and is never read
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(WMEmbError, match=r"huge\.txt: 200 MB, more than the 200 MB wmemb reads from one file"):
        read_corpus([huge])


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(WMEmbError, match=r"pipe\.txt: not a regular file \(a device, FIFO or socket"):
        read_corpus([fifo])


def test_split_of_dev_zero_stops_at_once_instead_of_filling_the_memory(tmp_path):
    # the address-space limit turns the old behaviour (reading /dev/zero until the OOM killer) into a quick failure
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "wmemb.cli", "split", "/dev/zero", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_memory,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error: /dev/zero: not a regular file" in done.stderr
