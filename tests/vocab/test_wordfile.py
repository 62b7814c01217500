import logging

import pytest

from wmemb.errors import WMEmbError
from wmemb.vocab import read_word_file, validate_terms


def test_reads_terms_skipping_comments_and_blanks(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("# microbiology\n芽孢杆菌\n\n  革兰氏阳性菌  # Gram-positive\npeptidoglycan\n", encoding="utf-8")
    assert read_word_file(path) == ["芽孢杆菌", "革兰氏阳性菌", "peptidoglycan"]


def test_reads_gbk_file(tmp_path):
    path = tmp_path / "terms-gbk.txt"
    path.write_bytes("芽孢杆菌\n革兰氏阳性菌\n溶菌酶\n肽聚糖\n".encode("gbk"))
    assert read_word_file(path) == ["芽孢杆菌", "革兰氏阳性菌", "溶菌酶", "肽聚糖"]


def test_reads_first_column_of_suggest_tsv(tmp_path):
    path = tmp_path / "terms.tsv"
    path.write_text(
        "term\tfrequency\tpieces\ttokens_saved\texample\n"
        "芽孢杆菌\t12\t4\t36\t芽孢杆菌是细菌。\nendospore\t5\t3\t10\tAn endospore.\n",
        encoding="utf-8",
    )
    assert read_word_file(path) == ["芽孢杆菌", "endospore"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("# only a comment\n\n", "no terms"),
        ("ok\n" + "长" * 33 + "\n", ":2: term"),
        ("bad\x07term\n", r"control character U\+0007"),
    ],
)
def test_bad_word_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WMEmbError, match=message) as error:
        read_word_file(path)
    assert str(path) in str(error.value)


def test_validate_terms_rejects_empty_list_and_whitespace():
    with pytest.raises(WMEmbError, match="empty word list"):
        validate_terms([])
    with pytest.raises(WMEmbError, match="term 2: empty or whitespace-only"):
        validate_terms(["芽孢", " \u3000 "])
    assert validate_terms([" 芽孢 ", "x" * 32]) == ["芽孢", "x" * 32]


def test_a_word_file_read_as_gb18030_is_named_in_a_warning(tmp_path, caplog):
    path = tmp_path / "terms-gbk.txt"
    path.write_bytes("芽孢杆菌\nendospore\n".encode("gbk"))
    with caplog.at_level(logging.WARNING, logger="wmemb.corpus.read"):
        assert read_word_file(path) == ["芽孢杆菌", "endospore"]
    assert any(str(path) in r.getMessage() and "read as gb18030" in r.getMessage() for r in caplog.records)


def test_a_huge_word_file_is_refused_at_once_with_the_sensible_size(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("".join(f"term{index}\n" for index in range(100_000)), encoding="utf-8")
    with pytest.raises(WMEmbError) as error:
        read_word_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: 100,000 terms, more than the 2,000 expand adds")
    assert "tens to a few hundred well-covered terms" in message and "wmemb vocab suggest" in message
