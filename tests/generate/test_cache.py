"""The reply cache: append-only, tolerant of torn and corrupt lines, first reply per key wins."""

from __future__ import annotations

import json
import logging

from wmemb.generate.cache import ReplyCache, cache_key


def test_keys_separate_split_text_template_model_and_n():
    base = ("train", "芽孢是休眠体。", "T {context_str}", "qwen:14b", 2)
    keys = {
        cache_key(*base),
        cache_key("val", *base[1:]),
        cache_key(base[0], "芽孢是休眠体", *base[2:]),
        cache_key(*base[:2], "T2 {context_str}", *base[3:]),
        cache_key(*base[:3], "qwen3", 2),
        cache_key(*base[:4], 3),
    }
    assert len(keys) == 6 and cache_key(*base) == cache_key(*base)
    assert cache_key(*base) == "be87dc9eb617a84b42a6fc2f83c4af9c"  # unchanged since the first caches were written


def test_reopen_after_torn_and_corrupt_lines(tmp_path, caplog):
    path = tmp_path / "book_train_replies.jsonl"
    with ReplyCache(path) as cache:
        cache.add({"key": "a", "reply": "问题1：芽孢是什么？"})
        cache.add({"key": "b", "reply": "What is apt?"})
        cache.add({"key": "a", "reply": "a later copy never replaces the first"})
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
        handle.write('{"key": "c", "reply": "Wha')  # the process was killed mid-write
    with caplog.at_level(logging.WARNING, logger="wmemb"):
        cache = ReplyCache(path)
    assert set(cache.entries) == {"a", "b"} and cache.get("a").reply == "问题1：芽孢是什么？"
    assert "c" not in cache
    assert (cache.torn_bytes, cache.corrupt, cache.empty) == (len(b'{"key": "c", "reply": "Wha'), 1, 0)
    assert any("partial last line" in r.message for r in caplog.records)
    assert any("1 corrupt lines" in r.message for r in caplog.records)
    cache.add({"key": "c", "reply": "What is a shell?"})
    cache.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == {"key": "c", "reply": "What is a shell?"}  # appended on a clean line
    assert "芽孢" in lines[0]  # UTF-8, not \\u escapes
