"""Which model a run ships, and how the run says it."""

from pathlib import Path

from wmemb.evaluate.choice import choose_final, final_model_sentences
from wmemb.evaluate.evaluate import EvaluationResult, ModelScores, QueryResult


def scores(label: str, per_query: list[float]) -> ModelScores:
    queries = [QueryResult(f"q{i}", ndcg, [], None) for i, ndcg in enumerate(per_query)]
    mean = sum(per_query) / len(per_query)
    return ModelScores(label, f"/work/models/{label}", None, {"ndcg@10": mean}, 10, 1.0, 1.0, queries)


def result(**per_query: list[float]) -> EvaluationResult:
    models = [scores(label, values) for label, values in per_query.items()]
    return EvaluationResult("val", "val.json", len(models[0].per_query), 10, (10,), models)


def averages(**ndcg: float) -> EvaluationResult:
    """Averages only, as an older metrics.json holds them: no per-query scores, so no interval."""
    models = [
        ModelScores(label, f"/work/models/{label}", None, {"ndcg@10": v}, 10, 1.0, 1.0) for label, v in ndcg.items()
    ]
    return EvaluationResult("val", "val.json", 5, 10, (10,), models)


def sentences(run: EvaluationResult, link: Path | None = None) -> list[str]:
    return final_model_sentences(run, choose_final(run), link)


def chosen(run: EvaluationResult) -> str:
    return choose_final(run).model.label


# 40 questions; `noisy` differs from `steady` by a few queries in both directions
steady = [0.6] * 40
noisy = [0.9, 0.3] * 10 + [0.6] * 20  # same mean as steady, high spread: within noise of it
lower = [0.5] * 40


def test_no_trained_model_ships_unless_it_beats_the_base():
    assert chosen(result(base=steady, finetuned=lower, expanded=lower)) == "base"
    assert chosen(result(base=steady, finetuned=steady, expanded=lower)) == "base"  # a tie is not a gain
    assert chosen(averages(base=0.6, finetuned=0.6, expanded=0.6)) == "base"
    assert chosen(result(base=lower, finetuned=steady)) == "finetuned"


def test_the_most_adapted_model_ships_unless_an_earlier_one_beats_it_beyond_noise():
    slightly_behind = [0.9, 0.3] * 10 + [0.6] * 19 + [0.55]  # 0.00125 below finetuned, within noise
    run = result(base=lower, finetuned=steady, expanded=slightly_behind)
    assert chosen(run) == "expanded"
    assert choose_final(run).kept_over_best is not None and choose_final(run).kept_over_best.within_noise
    clearly_behind = [0.55] * 40  # every question a little lower: the interval is above zero
    assert chosen(result(base=lower, finetuned=steady, expanded=clearly_behind)) == "finetuned"
    assert chosen(result(base=lower, finetuned=noisy, expanded=[0.62] * 40)) == "expanded"
    # an expanded model below the base is not a candidate, whatever the noise
    assert chosen(result(base=steady, finetuned=[0.7] * 40, expanded=lower)) == "finetuned"
    # without per-query scores there is no interval: the point estimate decides
    assert chosen(averages(base=0.5, finetuned=0.7, expanded=0.69)) == "finetuned"
    assert chosen(averages(base=0.5, finetuned=0.6, expanded=0.7)) == "expanded"


def test_the_sentences_name_the_winner_its_margin_and_what_was_not_kept():
    link = Path("work/models/final")
    won = sentences(averages(base=0.5, finetuned=0.7), link)
    assert won == [
        "The run's final model is the finetuned model (work/models/final → /work/models/finetuned): "
        "validation NDCG@10 0.700, +0.200 over the base model."
    ]
    lost = sentences(averages(base=0.6, finetuned=0.6, expanded=0.55), link)
    assert lost == [
        "The run's final model is the base model (work/models/final → /work/models/base): validation NDCG@10 0.600.",
        "Fine-tuning did not beat the base model on the validation questions (best trained model: finetuned, "
        "NDCG@10 0.600 vs 0.600), so the base model is kept.",
    ]
    expanded_lost = sentences(result(base=lower, finetuned=steady, expanded=[0.55] * 40))
    assert expanded_lost[1].startswith(
        "The expanded model did not beat the finetuned model (NDCG@10 0.550 vs 0.600; -0.050; 95% CI -0.050 to -0.050"
    )
    assert expanded_lost[1].endswith("), so the finetuned model is kept.")
    kept = sentences(result(base=lower, finetuned=steady, expanded=[0.9, 0.3] * 10 + [0.6] * 19 + [0.55]))
    assert kept[0].startswith("The run's final model is the expanded model") and "+0.099 over the base model" in kept[0]
    assert kept[1].startswith(
        "The finetuned model scored higher, within noise (expanded minus finetuned: -0.001; 95% CI "
    )
    assert kept[1].endswith("validation questions), so the run keeps its most adapted model.")


def test_the_cloze_check_vetoes_a_model_it_puts_below_the_base_beyond_noise():
    validation = result(base=lower, finetuned=steady, expanded=[0.62] * 40)
    assert choose_final(validation, result(base=steady, finetuned=steady, expanded=noisy)).model.label == "expanded"

    harmed = choose_final(validation, result(base=steady, finetuned=steady, expanded=lower))
    assert harmed.model.label == "finetuned" and set(harmed.vetoed) == {"expanded"}
    said = final_model_sentences(validation, harmed)
    assert said[-1].startswith("The expanded model beat the base on the validation questions, but the cloze check")
    assert "-0.100; 95% CI -0.100 to -0.100, paired bootstrap over 40 passages), so it is not shipped." in said[-1]
    assert not any("did not beat the finetuned model" in sentence for sentence in said)

    both = choose_final(validation, result(base=steady, finetuned=lower, expanded=lower))
    assert both.model.label == "base" and set(both.vetoed) == {"finetuned", "expanded"}
    said = final_model_sentences(validation, both)
    assert said[0].startswith("The run's final model is the base model") and len(said) == 3
    # a model the validation questions did not favour is not a candidate, so it is not "vetoed" either
    assert choose_final(result(base=steady, finetuned=lower), result(base=steady, finetuned=lower)).vetoed == {}
