import pytest

from wmemb.corpus.headings import find_headings, section_paths
from wmemb.corpus.read import read_corpus

EN_BODY = "Gram-positive bacteria have a thick peptidoglycan wall that retains crystal violet during staining."
ZH_BODY = "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成，能保留结晶紫染料。革兰氏阴性菌的细胞壁较薄，外面还有一层外膜。"


def titles(text: str, source: str) -> list[tuple[int, str]]:
    headings = find_headings(text, source)
    for heading in headings:  # spans cover exactly the heading line(s)
        assert text[heading.start : heading.end].strip() == text[heading.start : heading.end]
    return [(heading.level, heading.title) for heading in headings]


def paths(text: str, source: str) -> list[str]:
    return [" > ".join(path) for path in section_paths(find_headings(text, source))]


def test_markdown_atx_and_setext_headings_outside_code_blocks():
    text = f"""# 细菌学

{ZH_BODY}

## 1.2 Cell walls ##

{EN_BODY}

```sh
# not a heading: a shell comment
```

细胞结构
--------

{ZH_BODY}

Spores
======

{EN_BODY}
Not a heading either
---
"""
    assert titles(text, "book.md") == [(1, "细菌学"), (2, "1.2 Cell walls"), (2, "细胞结构"), (1, "Spores")]
    assert paths(text, "notes.markdown") == ["细菌学", "细菌学 > 1.2 Cell walls", "细菌学 > 细胞结构", "Spores"]


def test_restructuredtext_titles_take_levels_in_order_of_first_style():
    text = f"""=========
 细菌学
=========

Cell walls
==========

{EN_BODY}

革兰氏染色
----------

{ZH_BODY}

Spores
======

{EN_BODY}

Too short
=====

.. code-block:: python

    x = 1
"""
    assert titles(text, "guide.rst") == [(1, "细菌学"), (2, "Cell walls"), (3, "革兰氏染色"), (2, "Spores")]
    assert paths(text, "guide.rst")[2] == "细菌学 > Cell walls > 革兰氏染色"


def test_html_headings_come_from_the_tags_with_offsets_into_the_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><body><h1>细菌 <b>学</b></h1><p>{ZH_BODY}</p><h2>Cell\n walls</h2><p>{EN_BODY}</p>"
        f"<h3>Gram stain</h3><p>{EN_BODY}</p><h2>芽孢</h2><p>{ZH_BODY}</p></body></html>",
        encoding="utf-8",
    )
    doc = read_corpus([page]).documents[0]
    assert [(h.level, h.title) for h in doc.headings] == [
        (1, "细菌 学"),
        (2, "Cell walls"),
        (3, "Gram stain"),
        (2, "芽孢"),
    ]
    assert [doc.text[h.start : h.end] for h in doc.headings] == [h.title for h in doc.headings]
    assert "\x00" not in doc.text and ZH_BODY in doc.text
    assert [" > ".join(p) for p in section_paths(list(doc.headings))][2] == "细菌 学 > Cell walls > Gram stain"


def test_numbered_section_lines_in_plain_text_english_and_chinese():
    text = f"""Chapter 2. Package management

{EN_BODY}

2.1 Prerequisites

2.1.1. sudo configuration

{EN_BODY}

2.1.2. Who uploaded the package?

{EN_BODY}

第三章 细菌的形态

{ZH_BODY}

第2节 细胞壁

{ZH_BODY}

1.1.5. GUI 系统管理工具

{ZH_BODY}
"""
    assert titles(text, "book.txt") == [
        (1, "Chapter 2. Package management"),
        (2, "2.1 Prerequisites"),
        (3, "2.1.1. sudo configuration"),
        (3, "2.1.2. Who uploaded the package?"),
        (1, "第三章 细菌的形态"),
        (2, "第2节 细胞壁"),
        (3, "1.1.5. GUI 系统管理工具"),
    ]
    assert paths(text, "book.txt")[3] == (
        "Chapter 2. Package management > 2.1 Prerequisites > 2.1.2. Who uploaded the package?"
    )


def test_unnumbered_title_needs_to_stand_alone_before_body_text():
    text = (
        f"Introduction\n\n{EN_BODY}\n\n细胞结构\n\n{ZH_BODY}\n\nNote\n\n{EN_BODY}\n\nSee also\n\nfoo login: penguin\n"
    )
    assert titles(text, "a.txt") == [(1, "Introduction"), (1, "细胞结构")]


@pytest.mark.parametrize(
    "text",
    [
        # a numbered list: steps with and without final punctuation
        f"{EN_BODY}\n\n1. Stop the service.\n2. Edit the file.\n3. Restart the server.\n\n{EN_BODY}",
        f"{EN_BODY}\n\n1. Stop the service\n\n2. Edit the file\n\n3. Restart the server\n\n{EN_BODY}",
        f"{ZH_BODY}\n\n1. 停止服务\n2. 编辑配置文件\n3. 重启服务器\n\n{ZH_BODY}",
        # a list item indented deeper than the body text, and one with a hanging indent
        f"    {EN_BODY}\n\n     4. Execute the postinst script\n\n    {EN_BODY}",
        f"{EN_BODY}\n\n  1. Change the sources.list file temporarily to a single\n     unstable entry.\n\n{EN_BODY}",
        # a hard-wrapped sentence whose next line starts with a number
        "The new parser was measured and found to be about\n2.3 times faster than the old one on large files.",
        "The new parser was measured and turned out to be\n2 Times faster than before, on every file we tried.",
        "新版本的解析器经过测量。\n3 GB 内存足够运行它。",
        "We tried it.\n10 MB of memory was enough for the whole corpus.",
        # a table of contents: numbered lines without body text between them
        f"1.1 Console basics\n1.2 Unix-like filesystem\n1.3 Midnight Commander\n\n{EN_BODY}",
        # a statement that merely starts with a number
        f"{EN_BODY}\n\n3. Restart the server.\n\n{EN_BODY}",
        f"{ZH_BODY}\n\n第三章介绍了细菌的形态。\n\n{ZH_BODY}",
        # code and output lines standing alone
        f"{EN_BODY}\n\nDebian GNU/Linux 11 foo tty1\n\nfoo login: penguin\nPassword:\n\n{EN_BODY}",
        f"{EN_BODY}\n\n$ apt-get install foo\n\n{EN_BODY}",
    ],
)
def test_lists_wrapped_sentences_and_statements_are_not_headings(text):
    assert titles(text, "a.txt") == []
