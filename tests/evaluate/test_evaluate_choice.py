"""Which model a run ships, and how the run says it."""

from dataclasses import replace
from pathlib import Path

from wmemb.evaluate.choice import CLOZE, VALIDATION, Judgement, choose_final, final_model_sentences
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
    return final_model_sentences(choose_final(run), link)


def chosen(run: EvaluationResult) -> str:
    return choose_final(run).model.label


# 40 queries; `noisy` differs from `steady` by a few queries in both directions
steady = [0.6] * 40
noisy = [0.9, 0.3] * 10 + [0.6] * 20  # same mean as steady, high spread: within noise of it
lower = [0.5] * 40
a_little_higher = [0.9, 0.3] * 10 + [0.6] * 19 + [0.65]  # +0.00125 over steady, within noise


def test_no_trained_model_ships_unless_it_beats_the_base_beyond_noise():
    assert chosen(result(base=steady, finetuned=lower, expanded=lower)) == "base"
    assert chosen(result(base=steady, finetuned=steady, expanded=lower)) == "base"  # a tie is not a gain
    assert chosen(result(base=steady, finetuned=a_little_higher)) == "base"  # higher, but within noise
    assert chosen(averages(base=0.6, finetuned=0.6, expanded=0.6)) == "base"
    assert chosen(result(base=lower, finetuned=steady)) == "finetuned"
    # without per-query scores there is no interval: the point estimate decides
    assert chosen(averages(base=0.6, finetuned=0.61)) == "finetuned"


def test_the_last_candidate_ships_unless_an_earlier_one_beats_it_beyond_noise():
    slightly_behind = [0.9, 0.3] * 10 + [0.6] * 19 + [0.55]  # 0.00125 below finetuned, within noise
    assert chosen(result(base=lower, finetuned=steady, expanded=slightly_behind)) == "expanded"
    clearly_behind = [0.55] * 40  # every query a little lower: the interval is below zero
    assert chosen(result(base=lower, finetuned=steady, expanded=clearly_behind)) == "finetuned"
    assert chosen(result(base=lower, finetuned=noisy, expanded=[0.62] * 40)) == "expanded"
    # an expanded model not above the base is not a candidate, whatever the noise
    assert chosen(result(base=steady, finetuned=[0.7] * 40, expanded=steady)) == "finetuned"
    assert chosen(averages(base=0.5, finetuned=0.7, expanded=0.69)) == "finetuned"  # no interval: point estimates
    # the control arm comes last: new terms ship only when they beat it beyond noise
    assert chosen(result(base=lower, finetuned=steady, expanded=a_little_higher, continued=steady)) == "continued"
    assert chosen(result(base=lower, finetuned=steady, expanded=[0.7] * 40, continued=steady)) == "expanded"


def test_the_sentences_name_the_winner_its_margin_and_why_the_others_were_not_shipped():
    link = Path("work/models/final")
    won = sentences(averages(base=0.5, finetuned=0.7), link)
    assert won == [
        "The run's final model is the finetuned model (work/models/final → /work/models/finetuned): "
        "NDCG@10 0.700 on the validation questions, +0.200 over the base model."
    ]
    lost = sentences(result(base=steady, finetuned=a_little_higher, expanded=lower), link)
    assert lost[0] == (
        "The run's final model is the base model (work/models/final → /work/models/base): "
        "NDCG@10 0.600 on the validation questions."
    )
    assert lost[1].startswith(
        "The finetuned model is not shipped: on the validation questions it is not above the base beyond noise "
        "(+0.001; 95% CI "
    )
    assert lost[2].startswith(
        "The expanded model is not shipped: on the validation questions it is "
        "below the base beyond noise (-0.100; 95% CI -0.100 to -0.100"
    )
    assert (
        lost[3] == "No trained model beat the base beyond noise on the validation questions, so the base model is kept."
    )
    expanded_lost = sentences(result(base=lower, finetuned=steady, expanded=[0.55] * 40))
    assert expanded_lost[0].endswith(
        "+0.100 over the base model (+0.100; 95% CI +0.100 to +0.100, paired bootstrap over 40 validation questions)."
    )
    assert expanded_lost[1].startswith(
        "The expanded model did not beat the finetuned model (NDCG@10 0.550 vs 0.600; -0.050; 95% CI -0.050 to -0.050"
    )
    assert expanded_lost[1].endswith("), so the finetuned model is kept.")
    kept = sentences(result(base=lower, finetuned=a_little_higher, expanded=steady))
    assert kept[0].startswith("The run's final model is the expanded model") and "+0.100 over the base model" in kept[0]
    assert kept[1].startswith("The finetuned model scored higher, within noise (NDCG@10 0.601 vs 0.600; +0.001; 95% CI")
    assert kept[1].endswith(
        "so the run keeps the expanded model, which comes later in base, fine-tuned, expanded, continued."
    )


def test_the_cloze_check_decides_and_the_validation_questions_are_reported_beside_it():
    # the LLM's questions favour the expanded model; the cloze check puts it below the base: it is not shipped
    validation = result(base=lower, finetuned=steady, expanded=[0.7] * 40)
    judgement = Judgement.of(validation, result(base=steady, finetuned=[0.7] * 40, expanded=lower))
    assert judgement.choice.judge is CLOZE and judgement.choice.model.label == "finetuned"
    said = judgement.sentences()
    assert said[0].startswith(
        "The run's final model is the finetuned model (/work/models/finetuned): NDCG@10 0.700 "
        "on the cloze check, +0.100 over the base model"
    )
    assert said[1].startswith(
        "The expanded model is not shipped: on the cloze check it is below the "
        "base beyond noise (-0.100; 95% CI -0.100 to -0.100, paired bootstrap over 40 cloze "
        "queries)."
    )
    assert said[2].startswith(
        "On the validation questions, written by the LLM that wrote the training questions, it "
        "scores NDCG@10 0.600, +0.100 over the base"
    )
    # a cloze check that cannot tell any trained model from the base keeps the base, whatever the LLM's questions say
    kept = Judgement.of(validation, result(base=steady, finetuned=steady, expanded=lower))
    assert kept.choice.model.label == "base"
    assert "No trained model beat the base beyond noise on the cloze check" in " ".join(kept.sentences())
    # a small cloze check, above the base within noise, backed by validation questions sure of a gain: it ships
    backed = Judgement.of(validation, result(base=steady, finetuned=noisy, expanded=a_little_higher))
    assert backed.choice.model.label == "expanded"
    # not when the validation questions cannot tell it from the base either
    unsure = Judgement.of(
        result(base=steady, finetuned=lower, expanded=noisy),
        result(base=steady, finetuned=lower, expanded=a_little_higher),
    )
    assert unsure.choice.model.label == "base"
    said = " ".join(unsure.sentences())
    assert (
        "The expanded model is not shipped: on the cloze check it is above the base only within noise (+0.001" in said
    )
    assert "and the validation questions do not put it above the base beyond noise either." in said
    # without a cloze check the validation questions decide
    alone = Judgement.of(validation)
    assert alone.choice.judge is VALIDATION and alone.choice.model.label == "expanded"
    assert [judge for judge, _ in alone.judges()] == [VALIDATION]


def with_baselines(run: EvaluationResult, **per_query: list[float]) -> EvaluationResult:
    """`run` with baseline rows (BM25, hybrids) after its models, as `evaluate_models(baselines=["bm25"])` gives."""
    rows = [replace(scores(label, values), baseline=True) for label, values in per_query.items()]
    return replace(run, models=[*run.models, *rows])


def test_a_baseline_is_never_shipped_and_the_sentences_place_the_shipped_model_against_bm25():
    cloze = with_baselines(result(base=lower, finetuned=steady), bm25=[0.9] * 40, **{"hybrid(finetuned)": [0.9] * 40})
    validation = with_baselines(
        result(base=lower, finetuned=[0.7] * 40), bm25=[0.4] * 40, **{"hybrid(finetuned)": [0.7] * 40}
    )
    judgement = Judgement.of(validation, cloze)
    assert judgement.choice.model.label == "finetuned"  # bm25 and the hybrid score higher on the cloze check
    assert [model.label for model in judgement.choice.result.models] == ["base", "finetuned"]
    assert judgement.baseline_sentences() == [
        "On the cloze check, the finetuned model is below BM25 (NDCG@10 0.600 vs 0.900; -0.300; 95% CI -0.300 to "
        "-0.300, paired bootstrap over 40 cloze queries); fusing it with BM25 (hybrid) adds to it beyond noise "
        "(NDCG@10 0.900 vs 0.600; +0.300; 95% CI +0.300 to +0.300, paired bootstrap over 40 cloze queries).",
        "On the validation questions, the finetuned model is above BM25 (NDCG@10 0.700 vs 0.400; +0.300; 95% CI "
        "+0.300 to +0.300, paired bootstrap over 40 validation questions); fusing it with BM25 (hybrid) adds "
        "nothing beyond noise (NDCG@10 0.700 vs 0.700; +0.000; 95% CI +0.000 to +0.000, paired bootstrap over 40 "
        "validation questions).",
    ]
    # scored without baselines: nothing to say
    assert Judgement.of(result(base=lower, finetuned=steady)).baseline_sentences() == []
