"""The one model loader every stage uses: what it completes, and how a damaged folder is reported."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from sentence_transformers import SentenceTransformer

from wmemb.errors import WMEmbError
from wmemb.models import check_model_folder, load_sentence_model

TEXTS = ["革兰氏阳性菌的细胞壁很厚。", "A shell reads commands."]


def test_a_sentence_transformers_folder_loads_as_saved(tiny_bert):
    loaded = load_sentence_model(tiny_bert, device="cpu")
    assert loaded.folder == tiny_bert and loaded.modules_added == []
    expected = SentenceTransformer(str(tiny_bert), device="cpu").encode(TEXTS, convert_to_tensor=True)
    assert torch.equal(loaded.model.encode(TEXTS, convert_to_tensor=True), expected)


def test_a_plain_transformers_checkpoint_gets_cls_pooling_and_normalisation(tiny_bert):
    loaded = load_sentence_model(tiny_bert.parent / "hf", device="cpu")
    assert loaded.modules_added == ["Pooling(cls)", "Normalize"]
    # the tiny model's own modules are CLS pooling + Normalize on the same weights: same embeddings
    expected = SentenceTransformer(str(tiny_bert), device="cpu").encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(loaded.model.encode(TEXTS, convert_to_tensor=True), expected, atol=1e-6)


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda m: (m / "modules.json").write_text('{"idx": 0}', encoding="utf-8"),
            r"modules\.json: holds a JSON dict",
        ),
        (lambda m: (m / "config.json").write_bytes(b"\xff\xfe{"), r"config\.json: not UTF-8 text"),
        (lambda m: (m / "1_Pooling" / "config.json").write_text("{", encoding="utf-8"), r"config\.json: not valid"),
        (lambda m: (m / "model.safetensors").unlink(), r"no model weights in this folder"),
        (lambda m: (m / "model.safetensors").write_bytes(b"\x10"), r"model\.safetensors: not a readable safetensors"),
        (
            lambda m: [(m / n).unlink(missing_ok=True) for n in ("tokenizer.json", "vocab.txt")],
            r"no tokenizer in this model folder",
        ),
    ],
    ids=[
        "modules-not-a-list",
        "config-not-utf8",
        "pooling-config-corrupt",
        "no-weights",
        "weights-garbage",
        "no-tokenizer",
    ],
)
def test_a_damaged_folder_is_named_before_loading(tiny_bert, tmp_path, damage, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    damage(model)
    with pytest.raises(WMEmbError, match=message) as error:
        check_model_folder(model)
    assert "\n" not in str(error.value)


def test_settings_of_a_model_are_checked_for_shape(tiny_bert, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    (model / "sentence_bert_config.json").write_text(json.dumps([128]), encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"sentence_bert_config\.json: holds a JSON list"):
        load_sentence_model(model)


def test_the_packaged_minilm_passes_the_checks(minilm):
    # its data_config.json is a list: only the settings files libraries read have a required shape
    assert check_model_folder(None) == minilm


def with_custom_code(folder, config_name: str = "config.json") -> None:
    config = json.loads((folder / config_name).read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "configuration_bert.BertConfig", "AutoModel": "modeling_bert.BertModel"}
    (folder / config_name).write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize("kind", ["sentence-transformers", "plain", "tokenizer"])
def test_a_model_that_needs_custom_code_is_refused_on_purpose_not_called_damaged(tiny_bert, tmp_path, kind):
    """A model whose config names its own code (trust_remote_code) is refused before transformers, which would
    ask on the terminal whether to run it, and the message says why instead of "damaged; download again"."""
    model = tmp_path / "model"
    shutil.copytree(tiny_bert.parent / "hf" if kind != "sentence-transformers" else tiny_bert, model)
    with_custom_code(model, "tokenizer_config.json" if kind == "tokenizer" else "config.json")
    with pytest.raises(WMEmbError) as error:
        load_sentence_model(model, device="cpu")
    message = str(error.value)
    assert "refuses on purpose" in message and "trust_remote_code" in message and "would run with your" in message
    assert "damaged" not in message and "download" not in message.split(";")[0] and "\n" not in message
    if kind != "tokenizer":
        assert "config.json: auto_map names custom code (configuration_bert.py, modeling_bert.py)" in message


def test_a_transformers_custom_code_error_is_said_as_such(tmp_path):
    """Should a model need custom code in a way the check before loading does not see, transformers' error
    becomes the same refusal."""
    from wmemb.models import load_error

    exc = ValueError("The repository /m contains custom code which must be executed to correctly load the model.")
    message = str(load_error(tmp_path, exc, "the model"))
    assert "refuses on purpose" in message and "damaged" not in message
