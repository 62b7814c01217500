"""Shared fixtures: real models, built or packaged, for every stage's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import distinct_questions
from wmemb.cli import main

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Characters and words for a tiny cased BERT vocabulary covering the Chinese and English test texts.
_CJK_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
    "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道"
    "命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长"
    "求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色"
    "光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清美再采转更单风切打白教速"
    "花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需"
    "段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感"
    "劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂"
    "京识适属圆包火住调满县局照参红细引听该铁价严菌孢芽杆阳阴兰氏革微细胞膜壁核酶毒"
)
_LATIN_WORDS = (
    "the of and to in is for on with as by that this are be it an or from at which can not was has have "
    "we you they cell cells bacteria bacterium protein membrane wall spore virus gram positive negative "
    "question passage answer what how why when where who does do retrieval search domain model "
    "debian linux package system file shell command user root install"
).split()


def build_tiny_bert(folder: Path, extra_vocab: tuple[str, ...] = (), lowercase: bool = False, seed: int = 0) -> Path:
    """A complete sentence-transformers model (tiny BERT, CLS pooling, normalize) with random weights.

    Cased with CJK splitting on by default, like bge-*-zh tokenizers; `lowercase=True` mimics uncased
    English BERTs. Small enough to train for a few steps in a test.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    hf_dir = folder / "hf"
    hf_dir.mkdir(exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ascii_chars = [chr(c) for c in range(33, 127) if not (lowercase and chr(c).isupper())]
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    words = list(
        dict.fromkeys(
            specials + ascii_chars + pieces + list(dict.fromkeys(_CJK_CHARS)) + _LATIN_WORDS + list(extra_vocab)
        )
    )
    (hf_dir / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab=str(hf_dir / "vocab.txt"), do_lower_case=lowercase, tokenize_chinese_chars=True, model_max_length=128
    )
    tokenizer.save_pretrained(hf_dir)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="cls"), Normalize()]
    )
    model.save(str(folder / "model"))
    return folder / "model"


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip, with the reason, where no CUDA GPU is visible."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/gpu-check.sh on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """Folder of a tiny cased Chinese+English BERT sentence-transformers model (random weights)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def minilm() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (uncased English)."""
    from wmemb.models import resolve_model

    return resolve_model(None)


@pytest.fixture
def server():
    """A local OpenAI-protocol server whose questions name words from different places of each passage."""
    with openai_server(reply=distinct_questions) as running:
        yield running


@pytest.fixture
def run(capsys, monkeypatch):
    """`wmemb ARGS` as the console script runs it: (exit status, stderr)."""

    def invoke(*args: str) -> tuple[int, str]:
        capsys.readouterr()  # what came before is not this command's
        monkeypatch.setattr("sys.argv", ["wmemb", *args])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
        return code, capsys.readouterr().err

    return invoke
