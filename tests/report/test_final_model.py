"""Which model a run ships, and how the run says it."""

from pathlib import Path

from wmemb.evaluate.evaluate import EvaluationResult, ModelScores
from wmemb.report.run import choose_final, final_model_sentences


def result(**ndcg: float) -> EvaluationResult:
    models = [
        ModelScores(label, f"/work/models/{label}", None, {"ndcg@10": score}, 10, 1.0, 1.0)
        for label, score in ndcg.items()
    ]
    return EvaluationResult("val", "val.json", 5, 10, (10,), models)


def test_the_best_model_wins_and_a_tie_goes_to_the_simpler_one():
    assert choose_final(result(base=0.5, finetuned=0.7, expanded=0.6)).label == "finetuned"
    assert choose_final(result(base=0.5, finetuned=0.6, expanded=0.7)).label == "expanded"
    assert choose_final(result(base=0.6, finetuned=0.6, expanded=0.6)).label == "base"
    assert choose_final(result(base=0.5, finetuned=0.6, expanded=0.6)).label == "finetuned"


def test_the_sentences_name_the_winner_its_margin_and_what_was_not_kept():
    link = Path("work/models/final")
    won = final_model_sentences(result(base=0.5, finetuned=0.7), link)
    assert won == [
        "The run's final model is the finetuned model (work/models/final → /work/models/finetuned): "
        "validation NDCG@10 0.700, +0.200 over the base model."
    ]
    lost = final_model_sentences(result(base=0.6, finetuned=0.6, expanded=0.55), link)
    assert (
        lost[0].startswith("The run's final model is the base model") and "(a tie goes to the simpler model)" in lost[0]
    )
    assert lost[1] == (
        "Fine-tuning did not beat the base model on the validation questions (best trained model: finetuned, "
        "NDCG@10 0.600 vs 0.600), so the base model is kept."
    )
    expanded_lost = final_model_sentences(result(base=0.5, finetuned=0.7, expanded=0.65))
    assert (
        expanded_lost[1] == "The expanded model did not beat the finetuned model (NDCG@10 0.650 vs 0.700), "
        "so the finetuned model is kept."
    )
