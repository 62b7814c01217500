"""Which model a run ships: the decision, made once from the scores, and the sentences that explain it.

Two judges score every model. The validation questions were written by the same LLM as the training
questions, so they reward a model for learning that LLM's style: on a domain the quality benchmark
did not tune on, they put a trained model +0.07 NDCG@10 over the base while questions people wrote
put it at +0.00 (issue 24). The cloze check (`wmemb.evaluate.cloze`) holds no LLM text: a sentence
of each validation passage must find the rest of its passage. It vetoes: a trained model ships only
if it beats the base on the validation questions *and* the cloze check does not put it below the
base beyond noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wmemb.evaluate.bootstrap import Difference, paired_bootstrap
from wmemb.evaluate.results import EvaluationResult, ModelScores

BEST_METRIC = "ndcg@10"
TEMPLATE_FILE = "your_questions.json"  # beside the report: the user's own questions, for `wmemb evaluate`
# What the quality benchmark measured of the two judges against questions people wrote
# (bench/quality/README.md, "Judges"); the report quotes it.
JUDGE_AGREEMENT = (
    "On the quality benchmark (perl and fetchmail documentation, 14 trained models, 400 passages asked), the gains "
    "these questions gave ranked the models against the gains on questions people wrote with Spearman's rho -0.44; "
    "the cloze check below ranked them with rho +0.60."
)


def compare(first: ModelScores, second: ModelScores) -> Difference | None:
    """NDCG@10 of `second` minus `first` per query, bootstrapped; None without per-query scores."""
    if not first.per_query or len(first.per_query) != len(second.per_query):
        return None
    return paired_bootstrap([q.ndcg for q in first.per_query], [q.ndcg for q in second.per_query])


def interval_text(difference: Difference, questions: str = "validation questions") -> str:
    return (
        f"{difference.mean:+.3f}; {difference.confidence:.0%} CI {difference.low:+.3f} to {difference.high:+.3f}, "
        f"paired bootstrap over {difference.queries} {questions}"
    )


@dataclass(frozen=True)
class FinalChoice:
    """The model a run ships, and why."""

    model: ModelScores
    base: ModelScores
    best_trained: ModelScores | None  # the trained model with the highest validation NDCG@10
    # model minus best_trained, when the run keeps a more adapted model that scored lower within noise
    kept_over_best: Difference | None = None
    # the last stage's model minus the one shipped, when the last stage scored lower beyond noise
    last_dropped: Difference | None = None
    # label -> cloze score minus the base's, for trained models that beat the base on validation but
    # that the cloze check put below the base beyond noise
    vetoed: dict[str, Difference] = field(default_factory=dict)


def choose_final(validation: EvaluationResult, judge: EvaluationResult | None = None) -> FinalChoice:
    """The model a run ships. No harm: a trained model is a candidate only if its validation NDCG@10
    beats the base model's and the judge (the cloze check, same models in the same order) does not
    put it below the base beyond noise. Of the candidates, the most adapted one (the models come base,
    fine-tuned, expanded) ships unless an earlier one beats it beyond noise: with a few dozen
    validation questions, differences between trained models are mostly noise."""
    base, trained = validation.models[0], validation.models[1:]
    best_trained = max(trained, key=lambda model: model.metrics[BEST_METRIC]) if trained else None
    improving = [model for model in trained if model.metrics[BEST_METRIC] > base.metrics[BEST_METRIC]]
    vetoed = {}
    if judge is not None:
        for model in improving:
            difference = compare(judge.scores(base.label), judge.scores(model.label))
            if difference is not None and difference.high < 0:
                vetoed[model.label] = difference
    candidates = [model for model in improving if model.label not in vetoed]
    if not candidates:
        return FinalChoice(base, base, best_trained, vetoed=vetoed)
    last, best = candidates[-1], max(candidates, key=lambda model: model.metrics[BEST_METRIC])
    if best is last:
        return FinalChoice(last, base, best_trained, vetoed=vetoed)
    difference = compare(best, last)  # last minus best, per query
    if difference is None or difference.high < 0:  # without per-query scores the point estimate decides
        return FinalChoice(best, base, best_trained, last_dropped=difference, vetoed=vetoed)
    return FinalChoice(last, base, best_trained, kept_over_best=difference, vetoed=vetoed)


def final_model_sentences(validation: EvaluationResult, choice: FinalChoice, link: Path | None = None) -> list[str]:
    """Which model the run ships and by how much it won; says so plainly when training did not help."""
    final, base = choice.model, choice.base
    score = final.metrics[BEST_METRIC]
    where = f" ({link} → {final.path})" if link else f" ({final.path})"
    lead = f"The run's final model is the {final.label} model{where}: validation NDCG@10 {score:.3f}"
    vetoes = [
        f"The {label} model beat the base on the validation questions, but the cloze check (sentences of the "
        f"validation passages, no LLM text) put it below the base ({interval_text(difference, 'passages')}), so "
        "it is not shipped."
        for label, difference in choice.vetoed.items()
    ]
    if final is base:
        if choice.best_trained is None:
            return [f"{lead}."]
        if choice.vetoed:
            return [f"{lead}.", *vetoes]
        best = choice.best_trained
        return [
            f"{lead}.",
            f"Fine-tuning did not beat the base model on the validation questions (best trained model: "
            f"{best.label}, NDCG@10 {best.metrics[BEST_METRIC]:.3f} vs {score:.3f}), so the base model is kept.",
        ]
    sentences = [f"{lead}, {score - base.metrics[BEST_METRIC]:+.3f} over the base model."]
    if choice.kept_over_best is not None and choice.best_trained is not None:
        sentences.append(
            f"The {choice.best_trained.label} model scored higher, within noise ({final.label} minus "
            f"{choice.best_trained.label}: {interval_text(choice.kept_over_best)}), so the run keeps its most "
            "adapted model."
        )
    last = validation.models[-1]
    if last is not final and last.label not in choice.vetoed:
        why = f"; {interval_text(choice.last_dropped)}" if choice.last_dropped else ""
        sentences.append(
            f"The {last.label} model did not beat the {final.label} model (NDCG@10 {last.metrics[BEST_METRIC]:.3f} "
            f"vs {score:.3f}{why}), so the {final.label} model is kept."
        )
    return sentences + vetoes


@dataclass(frozen=True)
class Judgement:
    """Every model scored by both judges, and the model the run ships: computed once, read by the report."""

    validation: EvaluationResult  # the LLM's validation questions
    cloze: EvaluationResult | None  # the cloze check; None where the passages gave no cloze query
    choice: FinalChoice

    @classmethod
    def of(cls, validation: EvaluationResult, cloze: EvaluationResult | None = None) -> Judgement:
        return cls(validation, cloze, choose_final(validation, cloze))
