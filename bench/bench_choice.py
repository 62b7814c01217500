"""The control arm and the final-model choice, on the models of a finished quality-benchmark run.

    python bench/bench_choice.py --source s400 --label s400c --domains perl,cvs,fetchmail

Per domain: copies `runs/<source>/<domain>` (a `bench_quality.py` run) to `runs/<label>/<domain>` once,
trains the control arm there as the pipeline's control stage does (the fine-tuned model, `expand_epochs`
more on the same pairs, no new terms: `models/continued`), scores base, fine-tuned, expanded and continued
on the run's validation questions, on the cloze check and on the human questions (with BM25 and hybrid),
and prints which model `wmemb.evaluate.choice` ships without the control arm (the default run) and with
it, each one's gain on the human questions, and expanded minus continued (what the new terms add) with
its paired interval. Results: `runs/<label>/choice.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import BASE_FLAGS, reuse_run  # noqa: E402
from wmemb.cli import run_config  # noqa: E402
from wmemb.evaluate.choice import Judgement, compare, interval_text  # noqa: E402
from wmemb.evaluate.evaluate import EvaluationResult, evaluate_models  # noqa: E402
from wmemb.pipeline import Pipeline  # noqa: E402

LABELS = ["base", "finetuned", "expanded", "continued"]
DEFAULT_RUN = LABELS[:3]  # what `wmemb run` evaluates with control off


def only(result: EvaluationResult, labels: list[str]) -> EvaluationResult:
    return dataclasses.replace(result, models=[model for model in result.models if model.label in labels])


def run_domain(domain: str, source: Path, target: Path, cache: Path, flags: list[str]) -> dict:
    if not target.exists():
        reuse_run(source, target)
    argv = [*BASE_FLAGS, "--corpus", str(cache / domain / "corpus.txt"), "--workdir", str(target), "--name", domain]
    pipeline = Pipeline(run_config([*argv, *flags]))
    paths = pipeline.paths
    if not paths.continued.exists():
        pipeline._control(resume=False)  # the control stage's body, without the stages before it
    models = [pipeline.config.model, str(paths.finetuned), str(paths.expanded), str(paths.continued)]
    validation = evaluate_models(models, paths.val_dataset, labels=LABELS, show_progress=False)
    cloze = evaluate_models(models, pipeline._cloze_data(), labels=LABELS, show_progress=False)
    human = evaluate_models(models, cache / domain / "eval", labels=LABELS, baselines=("bm25",), show_progress=False)
    choices = {
        "default": Judgement.of(only(validation, DEFAULT_RUN), only(cloze, DEFAULT_RUN)),
        "control": Judgement.of(validation, cloze),
    }
    base = human.scores("base")
    result: dict = {"human": {model.label: round(model.metrics["ndcg@10"], 4) for model in human.models}}
    print(f"\n=== {domain}: human NDCG@10 {result['human']}")
    for name, judgement in choices.items():
        shipped = human.scores(judgement.choice.model.label)
        gain = shipped.metrics["ndcg@10"] - base.metrics["ndcg@10"]
        verdict = " ".join(judgement.sentences())
        result[name] = {"ships": shipped.label, "human_gain": round(gain, 4), "verdict": verdict}
        print(f"{name}: ships {shipped.label}, {gain:+.4f} on the human questions")
    for first, second in (("continued", "expanded"), ("finetuned", "continued"), ("finetuned", "expanded")):
        difference = compare(human.scores(first), human.scores(second))
        if difference:
            result[f"{second} - {first}"] = dataclasses.asdict(difference)
            print(f"human {second} - {first}: {interval_text(difference, 'human questions')}")
    result["cloze"] = {model.label: round(model.metrics["ndcg@10"], 4) for model in cloze.models}
    result["validation"] = {model.label: round(model.metrics["ndcg@10"], 4) for model in validation.models}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="s400", help="the bench_quality.py run to start from")
    parser.add_argument("--label", default="s400c", help="names this run's folder under --runs")
    parser.add_argument("--domains", default="perl,cvs,fetchmail")
    parser.add_argument("--run-flags", default="--max-train-passages 400 --max-val-passages 80")
    parser.add_argument("--runs", type=Path, default=ROOT / "bench" / "quality" / "cache" / "runs")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "quality" / "cache")
    args = parser.parse_args()
    results = {}
    for domain in args.domains.split(","):
        source, target = args.runs / args.source / domain, args.runs / args.label / domain
        results[domain] = run_domain(domain, source, target, args.cache, args.run_flags.split())
        (args.runs / args.label / "choice.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
