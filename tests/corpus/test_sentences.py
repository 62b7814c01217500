from wmemb.corpus.sentences import clean, paragraphs, secondary_cuts, sentences


def split_text(text: str) -> list[str]:
    return [clean(text[start:end]) for start, end in sentences(text)]


def test_english_abbreviations_decimals_urls_and_numbering_are_not_boundaries():
    text = (
        "Dr. Smith paid $3.50 for coffee, e.g. a latte, at www.example.com. Was it good? Yes! "
        "The U.S. Army met J. R. R. Tolkien at 10 a.m. on Monday. 1.2.3. Section heading\n\n"
        "See Fig. 3 for details. Another one."
    )
    assert split_text(text) == [
        "Dr. Smith paid $3.50 for coffee, e.g. a latte, at www.example.com.",
        "Was it good?",
        "Yes!",
        "The U.S. Army met J. R. R. Tolkien at 10 a.m. on Monday.",
        "1.2.3. Section heading",
        "See Fig. 3 for details.",
        "Another one.",
    ]


def test_lowercase_after_terminator_continues_the_sentence():
    assert split_text("Yahoo! is a site. wait... what happened? Nothing.") == [
        "Yahoo! is a site. wait... what happened?",
        "Nothing.",
    ]


def test_chinese_terminators_closing_quotes_and_ellipsis():
    text = "细菌是单细胞生物。它们有细胞壁吗？有！他说：“芽孢很耐热。”然后离开了；实验结束……下一步呢?继续"
    assert split_text(text) == [
        "细菌是单细胞生物。",
        "它们有细胞壁吗？",
        "有！",
        "他说：“芽孢很耐热。”",
        "然后离开了；",
        "实验结束……",
        "下一步呢?",
        "继续",
    ]


def test_hard_line_breaks_join_without_spaces_between_cjk_and_with_space_in_english():
    text = "虽然教程和文档是\n有帮助的，但你必须自己\n练习。The shell\ninterprets your\ncommands."
    assert split_text(text) == ["虽然教程和文档是有帮助的，但你必须自己练习。", "The shell interprets your commands."]


def test_blank_lines_end_paragraphs_and_clean_keeps_them_as_single_newlines():
    text = "  Title without period\n\n\n   First paragraph line one\n   line two.  \n\n第二段\n"
    assert [text[s:e] for s, e in paragraphs(text)] == [
        "Title without period",
        "First paragraph line one\n   line two.",
        "第二段",
    ]
    assert split_text(text) == ["Title without period", "First paragraph line one line two.", "第二段"]
    assert clean(text) == "Title without period\nFirst paragraph line one line two.\n第二段"


def test_every_non_space_character_is_in_exactly_one_sentence():
    text = "混合 mixed text. 中文。\n\nEnglish?  More... 结束"
    covered = "".join(text[s:e] for s, e in sentences(text))
    assert "".join(covered.split()) == "".join(text.split())


def test_secondary_cuts_fall_after_clause_punctuation():
    text = "甲，乙、丙：丁, e; f"
    cuts = secondary_cuts(text, 0, len(text))
    assert [text[c - 1] for c in cuts] == ["，", "、", "：", ",", ";"]
