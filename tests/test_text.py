"""Script detection: Han and CJK characters, and the main language of Chinese, English and mixed text."""

from __future__ import annotations

import pytest

from wmemb.text import han_count, is_cjk, is_han, main_language, text_language


@pytest.mark.parametrize(
    ("char", "han", "cjk"),
    [
        ("细", True, True),  # CJK Unified Ideographs
        ("㐀", True, True),  # Extension A, first
        ("䶵", True, True),  # Extension A
        ("𠀀", True, True),  # Extension B (supplementary plane)
        ("豈", True, True),  # Compatibility Ideographs
        ("。", False, True),  # CJK punctuation
        ("、", False, True),
        ("「", False, True),
        ("あ", False, True),  # kana
        ("！", False, True),  # fullwidth forms
        ("Ａ", False, True),
        ("１", False, True),
        ("a", False, False),
        ("!", False, False),
        ("é", False, False),
        ("한", False, False),  # Hangul: Korean spaces its words
        (" ", False, False),
        ("", False, False),
    ],
)
def test_han_and_cjk_characters(char, han, cjk):
    assert (is_han(char), is_cjk(char)) == (han, cjk)


def test_chinese_text():
    assert main_language("革兰氏阳性菌的细胞壁较厚。") == "zh"
    assert han_count("革兰氏阳性菌的细胞壁较厚。") == 12  # the full stop is not Han
    assert main_language("㐀㐁") == "zh"  # Extension A only


def test_english_text():
    assert main_language("Gram-positive bacteria have a thick cell wall.") == "en"
    assert han_count("Gram-positive bacteria have a thick cell wall.") == 0


def test_mixed_text_goes_by_han_characters_against_latin_words():
    assert main_language("使用 apt-get install 命令安装软件包，再用 dpkg -l 查看。") == "zh"
    assert main_language("The apt tool installs packages; 中文 is rare here.") == "en"
    # A hyphenated word or a word with digits counts once: 2 Han characters against 2 words.
    assert main_language("用 x86-64 的 apt-get") == "zh"
    assert main_language("用 the x86-64 的 apt-get") == "en"


def test_punctuation_numbers_and_fullwidth_only_are_not_chinese():
    for text in ("", "。，！？……", "...!?", "1984 2.5%", "ＡＢＣ１２３！"):
        assert main_language(text) == "en", text
    assert main_language("ＡＢＣ是什么？") == "zh"  # fullwidth letters are not Latin words


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("What does the apt tool install?", "en"),
        ("Explain apt-get?", "en"),  # no function word of either kind: English
        ("Which OS does Debian use?", "en"),
        ("What does 芽孢 mean?", "en"),
        ("Ｗｈａｔ ｉｓ ａｐｔ？", "en"),  # fullwidth folds to ASCII
        ("¿Qué instala la herramienta apt?", "latin"),
        ("Qu'est-ce que le noyau Linux?", "latin"),
        ("Was ist der Linux-Kernel?", "latin"),
        ("Como funciona o gerenciador de pacotes?", "latin"),
        ("Wat is de Linux-kernel?", "latin"),
        ("Что устанавливает утилита apt?", "cyrillic"),
        ("Τι είναι ο πυρήνας;", "greek"),
        ("Debian 使用什么命令管理软件包？", "zh"),
        ("apt-get install 和 apt install 有什么区别？", "zh"),
        ("細菌の細胞壁は何でできていますか？", "ja"),  # kana: Japanese, however much Han
        ("리눅스 커널이란 무엇입니까?", "ko"),
        ("123?", ""),
    ],
)
def test_text_language(text, language):
    assert text_language(text) == language
