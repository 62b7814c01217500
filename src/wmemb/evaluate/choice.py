"""Which model a run ships: the decision, made once from the scores, and the sentences that explain it.

Two judges score every model. The validation questions were written by the same LLM as the training
questions, so they reward a model for learning that LLM's style: on the quality benchmark the gains
they gave ranked 14 trained models against the gains on questions people wrote with Spearman's rho
-0.44, and on a domain the benchmark did not tune on they put a trained model +0.07 NDCG@10 over the
base while questions people wrote put it at +0.00 (issue 24). The cloze check (`wmemb.evaluate.cloze`)
holds no LLM text: a sentence of each validation passage must find the rest of its passage. Its gains
ranked the same models with rho +0.60, so it decides; the validation questions decide only where the
passages give no cloze query (all shorter than three sentences).

The rule: a trained model is a candidate only if the deciding judge puts it above the base, beyond
noise (the 95% interval of its paired per-query difference is above zero) or, where the cloze check
is small (48 queries on a 360-passage manual), above by its point estimate while the validation
questions put it above beyond noise: no judge may put it below the base, and one must be sure. Of
the candidates, the last in the order the models come ships unless an earlier one beats it beyond
noise on the deciding judge. The pipeline orders them base, fine-tuned, expanded, continued: each is
preferred on a tie over the ones before it, and the continued model (the control arm, trained as
long as the expanded one without new terms) over the expanded one, so new terms ship only when they
add something beyond noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from wmemb.evaluate.bootstrap import Difference, paired_bootstrap
from wmemb.evaluate.results import BM25_LABEL, EvaluationResult, FinalModel, ModelScores, hybrid_label

BEST_METRIC = "ndcg@10"
TEMPLATE_FILE = "your_questions.json"  # beside the report: the user's own questions, for `wmemb evaluate`
# What the quality benchmark measured of the two judges against questions people wrote
# (bench/quality/README.md, "Judges"); the report quotes it.
JUDGE_AGREEMENT = (
    "On the quality benchmark (perl and fetchmail documentation, 14 trained models, 400 passages asked), the gains "
    "the LLM's validation questions gave ranked the models against the gains on questions people wrote with "
    "Spearman's rho -0.44; the cloze check ranked them with rho +0.60, so the cloze check chooses the final model."
)

# What the same benchmark measured of BM25 on questions people wrote; the report quotes it beside its own
# BM25 figures, which both judges flatter.
LEXICAL_NOTE = (
    "Both judges' queries share words with their passages (a cloze query is a sentence of the passage's own text; "
    "the LLM copies the passage's words into its questions), which favours BM25. On the quality benchmark's "
    "questions people wrote, BM25 scored NDCG@10 0.485, 0.291 and 0.482 (perl, cvs, fetchmail), below even the "
    "base model (0.690, 0.491, 0.507), and hybrid search was never above the best model alone."
)


@dataclass(frozen=True)
class Judge:
    """A set of queries that scores every model: what it is called and what its queries are."""

    name: str  # "the cloze check"
    queries: str  # "cloze queries": what the intervals are bootstrapped over


CLOZE = Judge("the cloze check", "cloze queries")
VALIDATION = Judge("the validation questions", "validation questions")


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


def beyond_noise(first: ModelScores, second: ModelScores, difference: Difference | None) -> bool:
    """`second` beats `first`: beyond noise, or by the point estimate where there are no per-query scores."""
    if difference is None:
        return second.metrics[BEST_METRIC] > first.metrics[BEST_METRIC]
    return difference.low > 0


@dataclass(frozen=True)
class FinalChoice:
    """The model a run ships, and why; every score is the deciding judge's."""

    model: ModelScores
    result: EvaluationResult  # the deciding judge's scores of every model, base first
    judge: Judge
    gains: dict[str, Difference | None]  # each trained model minus the base, per query
    # the validation questions' gains, where they back the cloze check (see the module's docstring)
    support: dict[str, Difference | None] | None = None

    @property
    def base(self) -> ModelScores:
        return self.result.models[0]

    @property
    def candidates(self) -> list[ModelScores]:
        """The trained models that beat the base by the rule in this module's docstring."""
        return [model for model in self.result.models[1:] if self._beats_base(model)]

    def _beats_base(self, model: ModelScores) -> bool:
        if beyond_noise(self.base, model, self.gains[model.label]):
            return True
        if self.support is None or model.metrics[BEST_METRIC] <= self.base.metrics[BEST_METRIC]:
            return False
        backing = self.support.get(model.label)
        return backing is not None and backing.low > 0


def choose_final(
    result: EvaluationResult, judge: Judge = VALIDATION, support: EvaluationResult | None = None
) -> FinalChoice:
    """The model a run ships, by the rule in this module's docstring; `result` holds the deciding judge's
    scores, `support` the validation questions' where the cloze check decides."""
    base = result.models[0]
    gains = {model.label: compare(base, model) for model in result.models[1:]}
    backing = None
    if support is not None:
        backing = {model.label: compare(support.models[0], model) for model in support.models[1:]}
    choice = FinalChoice(base, result, judge, gains, backing)
    candidates = choice.candidates
    if not candidates:
        return choice
    last, best = candidates[-1], max(candidates, key=lambda model: model.metrics[BEST_METRIC])
    shipped = best if best is not last and beyond_noise(last, best, compare(last, best)) else last
    return replace(choice, model=shipped)


def final_model_sentences(choice: FinalChoice, link: Path | None = None) -> list[str]:
    """Which model the run ships, by how much, and why each other trained model is not shipped."""
    final, base, judge = choice.model, choice.base, choice.judge
    score = final.metrics[BEST_METRIC]
    where = f" ({link} → {final.path})" if link else f" ({final.path})"
    lead = f"The run's final model is the {final.label} model{where}: NDCG@10 {score:.3f} on {judge.name}"
    gain = choice.gains.get(final.label)
    if final is base:
        sentences = [f"{lead}."]
    else:
        why = f" ({interval_text(gain, judge.queries)})" if gain else ""
        sentences = [f"{lead}, {score - base.metrics[BEST_METRIC]:+.3f} over the base model{why}."]
    candidates = {model.label for model in choice.candidates}
    order = [model.label for model in choice.result.models]
    for model in choice.result.models[1:]:
        if model is final:
            continue
        value = model.metrics[BEST_METRIC]
        if model.label not in candidates:
            difference = choice.gains[model.label]
            reading = "below the base beyond noise" if difference and difference.high < 0 else "not above the base"
            detail = interval_text(difference, judge.queries) if difference else f"{value:.3f} vs {score:.3f}"
            backed = ""
            if choice.support is not None and value > base.metrics[BEST_METRIC]:
                reading = "above the base only within noise"
                backed = f", and {VALIDATION.name} do not put it above the base beyond noise either"
            elif difference is None or difference.high >= 0:
                reading += " beyond noise"
            sentences.append(
                f"The {model.label} model is not shipped: on {judge.name} it is {reading} ({detail}){backed}."
            )
            continue
        difference = compare(final, model)  # model minus final
        detail = f"; {interval_text(difference, judge.queries)}" if difference else ""
        if order.index(model.label) > order.index(final.label):
            sentences.append(
                f"The {model.label} model did not beat the {final.label} model (NDCG@10 {value:.3f} vs "
                f"{score:.3f}{detail}), so the {final.label} model is kept."
            )
        elif value > score:
            sentences.append(
                f"The {model.label} model scored higher, within noise (NDCG@10 {value:.3f} vs {score:.3f}{detail}), "
                f"so the run keeps the {final.label} model, which comes later in base, fine-tuned, expanded, "
                "continued."
            )
    if final is base and len(choice.result.models) > 1:  # the base ships only when no trained model is a candidate
        sentences.append(f"No trained model beat the base beyond noise on {judge.name}, so the base model is kept.")
    return sentences


@dataclass(frozen=True)
class Judgement:
    """Every model scored by both judges, and the model the run ships: computed once, read by the report."""

    validation: EvaluationResult  # the LLM's validation questions (with the BM25 and hybrid rows, if scored)
    cloze: EvaluationResult | None  # the cloze check; None where the passages gave no cloze query
    choice: FinalChoice  # among the models only: a baseline row is never shipped

    @classmethod
    def of(cls, validation: EvaluationResult, cloze: EvaluationResult | None = None) -> Judgement:
        models = validation.without_baselines()
        if cloze is not None:
            choice = choose_final(cloze.without_baselines(), CLOZE, models)
        else:
            choice = choose_final(models, VALIDATION)
        return cls(validation, cloze, choice)

    def judges(self) -> list[tuple[Judge, EvaluationResult]]:
        """Each judge with its scores, the deciding one first."""
        pairs = [(CLOZE, self.cloze)] if self.cloze is not None else []
        return [*pairs, (VALIDATION, self.validation)]

    def sentences(self, link: Path | None = None) -> list[str]:
        """The choice, then what the judge that did not decide says of the shipped model."""
        sentences = final_model_sentences(self.choice, link)
        final = self.choice.model
        for judge, result in self.judges()[1:]:
            other, base = result.scores(final.label), result.models[0]
            if other is base:
                continue
            gain = compare(base, other)
            detail = interval_text(gain, judge.queries) if gain else "no per-query scores"
            sentences.append(
                f"On {judge.name}, written by the LLM that wrote the training questions, it scores NDCG@10 "
                f"{other.metrics[BEST_METRIC]:.3f}, {other.metrics[BEST_METRIC] - base.metrics[BEST_METRIC]:+.3f} "
                f"over the base ({detail})."
            )
        return sentences

    def final_model(self, link: Path) -> FinalModel:
        """The shipped model as the evaluate stage records it: where `link` points, and the choice in words."""
        final, judge = self.choice.model, self.choice.judge
        return FinalModel(
            model=final.label,
            path=final.path,
            link=str(link),
            judge=judge.name,
            ndcg=final.metrics[BEST_METRIC],
            base_ndcg=self.choice.base.metrics[BEST_METRIC],
            verdict=" ".join(self.sentences(link)),
        )

    def baseline_sentences(self) -> list[str]:
        """Where the shipped model stands against BM25 on each judge, and whether fusing the two (hybrid) adds."""
        final = self.choice.model
        sentences = []
        for judge, result in self.judges():
            labels = {model.label for model in result.baselines}
            if BM25_LABEL not in labels:
                continue
            bm25, shipped = result.scores(BM25_LABEL), result.scores(final.label)
            sentence = (
                f"On {judge.name}, the {final.label} model is {_standing(compare(bm25, shipped))} BM25 "
                f"({_scores(bm25, shipped, judge)})"
            )
            if hybrid_label(final.label) in labels:
                hybrid = result.scores(hybrid_label(final.label))
                standing = _standing(compare(shipped, hybrid))
                adds = {"above": "adds to it", "below": "costs it"}.get(standing, "adds nothing")
                sentence += f"; fusing it with BM25 (hybrid) {adds} beyond noise ({_scores(shipped, hybrid, judge)})"
            sentences.append(sentence + ".")
        return sentences


def _standing(difference: Difference | None) -> str:
    """How the second of a pair stands against the first, in words."""
    if difference is None:
        return "compared without per-query scores with"
    if difference.low > 0:
        return "above"
    return "below" if difference.high < 0 else "within noise of"


def _scores(first: ModelScores, second: ModelScores, judge: Judge) -> str:
    difference = compare(first, second)
    detail = f"; {interval_text(difference, judge.queries)}" if difference else ""
    return f"NDCG@10 {second.metrics[BEST_METRIC]:.3f} vs {first.metrics[BEST_METRIC]:.3f}{detail}"
