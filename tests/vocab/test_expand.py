import json
import shutil

import pytest
import torch
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from wmemb.errors import WMEmbError
from wmemb.facade import WMEmbModel
from wmemb.vocab import expand_model

ZH_TEXTS = [
    "我们发现芽孢杆菌和芽孢都很常见。",
    "杆菌素由芽孢杆菌产生。",
    "细胞膜和细胞壁的结构不同。",
    "这是一个没有新词的句子。",
]


def write_nodes(path, texts):
    path.write_text(
        "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
        encoding="utf-8",
    )
    return path


def embedding_rows(model, ids):
    return model[0].auto_model.get_input_embeddings().weight[ids].detach()


@pytest.fixture(scope="module")
def expanded_zh(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("zh") / "expanded"
    nodes = write_nodes(tmp_path_factory.mktemp("nodes") / "nodes.jsonl", ZH_TEXTS)
    report = expand_model(tiny_bert, out, ["芽孢杆菌", "芽孢", "杆菌素", "菌", "鑫淼"], report_texts=nodes)
    return report, out


def test_chinese_terms_are_single_tokens_in_sentences_after_reload(expanded_zh):
    report, out = expanded_zh
    tokenizer = SentenceTransformer(str(out), device="cpu")[0].tokenizer
    assert tokenizer.tokenize("我们发现芽孢杆菌和芽孢都很常见") == [
        "我",
        "们",
        "发",
        "现",
        "芽孢杆菌",
        "和",
        "芽孢",
        "都",
        "很",
        "常",
        "见",
    ]
    assert tokenizer.tokenize("杆菌素由此产生") == ["杆菌素", "由", "此", "产", "生"]
    assert [t.term for t in report.added] == ["芽孢杆菌", "芽孢", "杆菌素", "鑫淼"]
    assert all(t.single_token for t in report.added) and not report.not_single_token


def test_skips_vocab_entries_and_reports_overlaps(expanded_zh):
    report, _ = expanded_zh
    assert [(t.term, t.reason.split(";")[0]) for t in report.skipped] == [("菌", "already a vocabulary entry")]
    found = {(o.first, o.second, o.kind): o.tokens for o in report.overlaps}
    assert found[("芽孢", "芽孢杆菌", "inside")] == ["芽孢杆菌"]
    assert found[("芽孢杆菌", "杆菌素", "chain")] == ["芽孢杆菌", "素"]  # leftmost match wins
    assert "leftmost" in next(o for o in report.overlaps if o.kind == "chain").describe()


def test_mean_subtoken_init_and_unknown_fallback(tiny_bert, expanded_zh):
    report, out = expanded_zh
    old, new = SentenceTransformer(str(tiny_bert), device="cpu"), SentenceTransformer(str(out), device="cpu")
    old_tokenizer = old[0].tokenizer
    for term in report.added[:3]:
        ids = old_tokenizer.convert_tokens_to_ids(list(term.term))
        assert torch.allclose(embedding_rows(new, [term.token_id])[0], embedding_rows(old, ids).mean(dim=0))
        assert term.init == f"mean of {len(term.term)} sub-token(s)"
    unknown = report.added[3]  # 鑫淼: both characters are [UNK] in the tiny vocab
    vocab_mean = old[0].auto_model.get_input_embeddings().weight.detach().mean(dim=0)
    assert unknown.init.startswith("vocabulary mean")
    assert torch.allclose(embedding_rows(new, [unknown.token_id])[0], vocab_mean)
    assert new[0].auto_model.get_input_embeddings().weight.shape[0] == len(old_tokenizer) + 4


def test_texts_without_terms_embed_bit_identically(tiny_bert, expanded_zh):
    report, out = expanded_zh
    assert (report.texts, report.unaffected_texts, report.affected_texts) == (4, 2, 2)
    assert report.unaffected_identical and report.mean_cosine is not None and -1 <= report.mean_cosine <= 1
    old, new = SentenceTransformer(str(tiny_bert), device="cpu"), SentenceTransformer(str(out), device="cpu")
    plain = ZH_TEXTS[2:]
    assert torch.equal(old.encode(plain, convert_to_tensor=True), new.encode(plain, convert_to_tensor=True))
    assert not torch.equal(
        old.encode(ZH_TEXTS[:1], convert_to_tensor=True), new.encode(ZH_TEXTS[:1], convert_to_tensor=True)
    )


def test_init_methods_differ(tiny_bert, tmp_path):
    rows = {}
    for init in ("hf-default", "random"):
        report = expand_model(tiny_bert, tmp_path / init, ["芽孢杆菌"], init=init)
        model = SentenceTransformer(str(tmp_path / init), device="cpu")
        rows[init] = embedding_rows(model, [report.added[0].token_id])[0]
        assert report.added[0].init == init and report.added[0].single_token
    old = SentenceTransformer(str(tiny_bert), device="cpu")
    subtoken_mean = embedding_rows(old, old[0].tokenizer.convert_tokens_to_ids(list("芽孢杆菌"))).mean(dim=0)
    assert not torch.allclose(rows["hf-default"], rows["random"])
    assert not torch.allclose(rows["random"], subtoken_mean)


def test_plain_transformers_checkpoint_gets_pooling_and_normalize(tiny_bert, tmp_path):
    report = expand_model(tiny_bert.parent / "hf", tmp_path / "st", ["芽孢杆菌"])
    assert report.modules_added == ["Pooling(cls)", "Normalize"]
    modules = json.loads((tmp_path / "st" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((tmp_path / "st" / modules[1]["path"] / "config.json").read_text())
    assert pooling["pooling_mode"] == "cls"
    embedding = SentenceTransformer(str(tmp_path / "st"), device="cpu").encode(["芽孢杆菌"], convert_to_tensor=True)
    assert torch.allclose(embedding.norm(dim=-1), torch.ones(1))


def test_in_place_expansion_through_facade(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    report = WMEmbModel(folder).expand(["革兰氏阳性菌"], folder)
    assert report.added[0].single_token
    assert SentenceTransformer(str(folder), device="cpu")[0].tokenizer.tokenize("革兰氏阳性菌") == ["革兰氏阳性菌"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folders left behind


def test_english_terms_on_uncased_minilm(minilm, tmp_path):
    out = tmp_path / "minilm"
    report = expand_model(minilm, out, ["Peptidoglycan", "lipopolysaccharide", "peptidoglycan", "bacteria", "cell"])
    assert [t.term for t in report.added] == ["Peptidoglycan", "lipopolysaccharide"]
    assert report.added[0].token == "peptidoglycan"  # stored as the uncased normalizer writes it
    reasons = {t.term: t.reason for t in report.skipped}
    assert reasons["peptidoglycan"].startswith("duplicate of 'Peptidoglycan'")
    assert reasons["bacteria"].startswith("already a vocabulary entry") and reasons["cell"].startswith(
        "already a vocabulary entry"
    )
    assert all(t.single_token for t in report.added) and len(report.added[0].probes) == 3  # as given, UPPER, lower
    old_tokenizer = SentenceTransformer(str(minilm), device="cpu")[0].tokenizer
    tokenizer = SentenceTransformer(str(out), device="cpu")[0].tokenizer
    assert tokenizer.tokenize("The PEPTIDOGLYCAN layer and Lipopolysaccharide.") == [
        "the",
        "peptidoglycan",
        "layer",
        "and",
        "lipopolysaccharide",
        ".",
    ]
    # whole words only: a longer word containing the term keeps its old pieces
    assert tokenizer.tokenize("peptidoglycans") == old_tokenizer.tokenize("peptidoglycans")
    assert report.unaffected_texts == 2 and report.unaffected_identical and 0.3 < report.mean_cosine < 1


def test_refuses_existing_output_and_bad_models(tiny_bert, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(WMEmbError, match="pass --overwrite"):
        expand_model(tiny_bert, out, ["芽孢杆菌"])
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(WMEmbError, match="--init 'zero'"):
        expand_model(tiny_bert, tmp_path / "x", ["芽孢杆菌"], init="zero")
    with pytest.raises(WMEmbError, match="empty word list"):
        expand_model(tiny_bert, tmp_path / "x", [])
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    shutil.copy(tiny_bert.parent / "hf" / "config.json", no_tokenizer)
    with pytest.raises(WMEmbError, match="no tokenizer"):
        expand_model(no_tokenizer, tmp_path / "x", ["芽孢杆菌"])
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_bert.parent / "hf", no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(WMEmbError, match="no model weights"):
        expand_model(no_weights, tmp_path / "x", ["芽孢杆菌"])
    assert not (tmp_path / "x").exists()


def test_cli_expand_with_words_list(tiny_bert, tmp_path):
    from wmemb.cli import app

    result = CliRunner().invoke(
        app, ["expand", str(tiny_bert), str(tmp_path / "out"), "--words", "芽孢杆菌", "溶菌酶", "菌"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped 菌" in result.output and "2 of 2" in result.output
    tokenizer = SentenceTransformer(str(tmp_path / "out"), device="cpu")[0].tokenizer
    assert tokenizer.tokenize("溶菌酶分解芽孢杆菌") == ["溶菌酶", "分", "解", "芽孢杆菌"]
    result = CliRunner().invoke(app, ["expand", str(tiny_bert), str(tmp_path / "out2")])
    assert isinstance(result.exception, WMEmbError) and "--words" in str(result.exception)


def test_cli_expand_interrupted_says_what_expand_left(tiny_bert, tmp_path, monkeypatch, capsys):
    """Ctrl-C in `wmemb expand`: its own message (the output is as it was; no cache or --resume, unlike prepare
    and finetune), exit status 130, and no partial folder."""
    from wmemb.cli import main

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("wmemb.vocab.expand._compare_embeddings", interrupt)  # while the new folder is written
    output = tmp_path / "out"
    monkeypatch.setattr("sys.argv", ["wmemb", "expand", str(tiny_bert), str(output), "--words", "芽孢杆菌"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 130
    message = " ".join(capsys.readouterr().err.split())
    assert f"interrupted; expand changed nothing: {output} is as it was (the partial copy was removed)" in message
    assert "run the command again to expand from the start" in message
    assert "reply cache" not in message and "continues with --resume" not in message
    assert not output.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
