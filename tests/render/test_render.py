"""Charts are SVG whose labels are text: Chinese stays Chinese characters, markup stays escaped."""

import re
import xml.etree.ElementTree as ET

from wmemb.render.charts import Interval, Line, Series, bar_chart, hbar_chart, interval_chart, line_chart
from wmemb.render.document import Heading, Section, Table, Text, render_markdown
from wmemb.render.tables import markdown_table

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # also proves the SVG is well-formed XML
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 100 and float(root.get("height")) > 50
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_bar_chart_keeps_chinese_labels_as_text():
    svg = bar_chart(
        "微生物_val_dataset: 10 queries",
        ["ndcg@10", "召回率@5"],
        [Series("基础模型", [0.5, 0.25]), Series("fine-tuned", [0.75, 1.0])],
    )
    labels = texts(svg)
    assert {"微生物_val_dataset: 10 queries", "召回率@5", "基础模型", "fine-tuned"} <= set(labels)
    assert svg.count("<rect") >= 4 + 2  # bars and legend keys
    assert "<image" not in svg and "base64" not in svg


def test_line_chart_rings_the_best_epoch():
    svg = line_chart("验证 NDCG@10", "epoch", "NDCG@10", [Line("微调", [(0, 0.5), (1, 0.61), (2, 0.58)], marked=1)])
    labels = texts(svg)
    assert "best 0.610" in labels and "微调" in labels and "验证 NDCG@10" in labels
    assert len(re.findall(r'<circle[^>]*fill="none"', svg)) == 1  # one ring, around epoch 1


def test_interval_and_funnel_charts_escape_markup():
    svg = interval_chart("差异", [Interval("a<b & c", 0.05, -0.01, 0.1)], "NDCG@10")
    assert "a<b & c" in texts(svg) and "a&lt;b &amp; c" in svg
    funnel = hbar_chart("漏斗", [("段落", 120), ("保留的问题", 80)])
    assert {"段落", "保留的问题", "120", "80"} <= set(texts(funnel))


def test_markdown_table_aligns_and_escapes():
    assert markdown_table(["名称", "值"], [["a|b", 1.5], ["二\n行", 2]], "lr").splitlines() == [
        "| 名称 | 值 |",
        "| --- | ---: |",
        "| a\\|b | 1.5 |",
        "| 二 行 | 2 |",
    ]


def test_blocks_render_the_same_content_in_html_and_markdown():
    table = Table(["模型", "ndcg@10"], [["基础", "0.5"], ["微调", "0.7"]], "lr", strong=frozenset({(1, 1)}))
    assert "| 微调 | **0.7** |" in table.markdown()
    assert '<td class="num"><strong>0.7</strong></td>' in table.html()
    text = Text("**胜出**: run `wmemb evaluate` <now>")
    assert text.markdown() == "**胜出**: run `wmemb evaluate` &lt;now&gt;"
    assert text.html() == '<p class="text"><strong>胜出</strong>: run <code>wmemb evaluate</code> &lt;now&gt;</p>'


def test_markdown_escapes_html_from_passages_and_replies():
    passage = 'Spores <img src=x onerror="alert(1)"> resist heat & drying.'
    question = "What does <script>alert(2)</script> do?"
    sections = [
        Section(
            "Queries",
            "queries",
            [
                Heading(question, level=4),
                Text(f"Dropped: {question} (`<kept as code>`)"),
                Table(["query", "passage"], [[question, passage]], strong=frozenset({(0, 0)})),
            ],
        )
    ]
    markdown = render_markdown("Report", sections)
    assert "<img" not in markdown and "<script>" not in markdown
    assert "#### What does &lt;script&gt;alert(2)&lt;/script&gt; do?" in markdown
    assert "Dropped: What does &lt;script&gt;alert(2)&lt;/script&gt; do? (`<kept as code>`)" in markdown
    assert (
        '| **What does &lt;script&gt;alert(2)&lt;/script&gt; do?** | Spores &lt;img src=x onerror="alert(1)"&gt;'
        in markdown
    )
    assert "resist heat &amp; drying. |" in markdown
