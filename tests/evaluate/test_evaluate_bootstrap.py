"""The paired bootstrap behind the report's verdict, and the verdict's words, on cases whose answer is known."""

import math

import numpy as np
import pytest

from wmemb.evaluate import ModelScores, QueryResult
from wmemb.evaluate.bootstrap import paired_bootstrap
from wmemb.evaluate.choice import CLOZE, compare
from wmemb.report.verdict import headline


def test_a_constant_gain_has_a_zero_width_interval():
    first = [0.2, 0.5, 0.9, 0.4]
    difference = paired_bootstrap(first, [value + 0.1 for value in first])
    assert difference.mean == pytest.approx(0.1)
    assert (difference.low, difference.high) == (pytest.approx(0.1), pytest.approx(0.1))
    assert not difference.within_noise


def test_identical_models_are_within_noise():
    scores = [0.1, 0.7, 1.0, 0.0, 0.5]
    difference = paired_bootstrap(scores, scores)
    assert (difference.mean, difference.low, difference.high) == (0.0, 0.0, 0.0) and difference.within_noise


def test_interval_matches_the_normal_approximation_on_many_queries():
    rng = np.random.default_rng(1)
    first = rng.uniform(0, 1, 2000)
    second = first + rng.normal(0.02, 0.2, 2000)
    difference = paired_bootstrap(first, second, resamples=4000)
    gaps = second - first
    half_width = 1.96 * gaps.std(ddof=1) / math.sqrt(len(gaps))
    assert difference.mean == pytest.approx(gaps.mean())
    assert difference.high - difference.low == pytest.approx(2 * half_width, rel=0.1)
    assert difference.low < difference.mean < difference.high


def test_pairing_sees_a_small_consistent_gain_that_spread_would_hide():
    # Query difficulty varies a lot, the gain is small but the same everywhere: paired, it is clear.
    first = np.linspace(0.0, 0.9, 50)
    difference = paired_bootstrap(first, first + 0.01 + np.tile([0.0, 0.002], 25))
    assert difference.low > 0 and not difference.within_noise


def test_a_loss_is_negative_and_the_result_is_reproducible():
    first, second = [0.9, 0.8, 0.7, 0.95, 0.85, 0.9], [0.5, 0.6, 0.7, 0.4, 0.5, 0.45]
    difference = paired_bootstrap(first, second, seed=3)
    assert difference.high < 0 and difference == paired_bootstrap(first, second, seed=3)


@pytest.mark.parametrize("first, second", [([], []), ([0.1, 0.2], [0.1])])
def test_unpaired_or_empty_scores_are_refused(first, second):
    with pytest.raises(ValueError):
        paired_bootstrap(first, second)


def scores(label: str, per_query: list[float]) -> ModelScores:
    queries = [QueryResult(f"q{i}", value, [], None) for i, value in enumerate(per_query)]
    return ModelScores(label, label, None, {"ndcg@10": sum(per_query) / len(per_query)}, 0, 1.0, 0.0, queries)


@pytest.mark.parametrize(
    "after, start",
    [
        (
            [0.6, 0.7, 0.8, 0.9, 0.7, 0.8],
            "**The finetuned model wins**: NDCG@10 0.583 → 0.750 on the cloze check (+0.167; 95% CI +",
        ),
        (
            [0.1, 0.2, 0.3, 0.4, 0.2, 0.3],
            "**The base model wins: the finetuned model is worse**: NDCG@10 0.583 → 0.250 on the cloze check",
        ),
        (
            [0.9, 0.2, 0.9, 0.4, 0.9, 0.1],
            "**No clear winner**: NDCG@10 0.583 → 0.567 on the cloze check (-0.017; 95% CI -",
        ),
        (
            [0.5, 0.6, 0.7, 0.6, 0.5, 0.6],
            "**No difference**: NDCG@10 0.583 → 0.583 on the cloze check; both models give each of the 6 cloze queries",
        ),
    ],
)
def test_the_verdict_says_who_won_and_when_it_is_noise(after, start):
    base, finetuned = scores("base", [0.5, 0.6, 0.7, 0.6, 0.5, 0.6]), scores("finetuned", after)
    assert headline(base, finetuned, compare(base, finetuned), CLOZE).startswith(start)
