"""The expand-order experiment on a tiny corpus and model, questions from a real local HTTP LLM server."""

import json

import pytest

from helpers.pipeline_inputs import config_for
from wmemb.experiment import run_expand_order

pytestmark = pytest.mark.slow  # end to end


def test_expand_order_runs_every_arm_with_metrics_per_epoch(tmp_path, tiny_bert, server):
    config = config_for(tmp_path, tiny_bert, server, expand_terms=["革兰氏阳性菌", "lipopolysaccharide"])
    result = run_expand_order(config, epochs=1)
    arms = {arm.name: arm for arm in result.arms}
    assert list(arms) == ["base", "finetune", "expand-finetune", "finetune2-expand-finetune", "finetune2-finetune"]
    assert [epoch for epoch, _ in arms["base"].curve] == [0]
    assert [epoch for epoch, _ in arms["finetune"].curve] == [0, 1]
    assert [epoch for epoch, _ in arms["expand-finetune"].curve] == [0, 1]
    assert [epoch for epoch, _ in arms["finetune2-expand-finetune"].curve] == [0, 1, 2, 3]
    # the control trains as long on the same pairs from the same 2-epoch model, with no new terms
    assert [epoch for epoch, _ in arms["finetune2-finetune"].curve] == [0, 1, 2, 3]
    assert arms["finetune2-finetune"].curve[:3] == arms["finetune2-expand-finetune"].curve[:3]
    effect = result.expansion_effect
    assert effect is not None and effect.low <= effect.mean <= effect.high and effect.queries > 0
    for arm in result.arms:
        assert all(0 <= metrics["ndcg@10"] <= 1 for _, metrics in arm.curve)
    # base and the untrained start of the fine-tune arm are the same model on the same data
    assert arms["base"].curve[0][1]["ndcg@10"] == arms["finetune"].curve[0][1]["ndcg@10"]
    saved = json.loads(open(result.files["json"], encoding="utf-8").read())
    assert saved["terms"] == ["革兰氏阳性菌", "lipopolysaccharide"] and len(saved["arms"]) == 5
    table = open(result.files["markdown"], encoding="utf-8").read()
    assert "| finetune2-expand-finetune |" in table and "ndcg@10 per epoch" in table
    assert "What the new terms themselves add (finetune2-expand-finetune minus finetune2-finetune" in table
    assert saved["expansion_effect"]["queries"] == effect.queries
    assert "| hit_rate@1 |" not in table and "best hit_rate@1" in table and "nan" not in table
    chart = open(result.files["chart"], encoding="utf-8").read()
    assert chart.startswith("<svg") and ">finetune2-expand-finetune<" in chart
