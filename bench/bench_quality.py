"""Quality on questions people wrote: the default `wmemb run` per domain, then base vs each stage's model.

    python bench/bench_quality.py --fresh --label defaults     # perl and cvs, default settings
    python bench/bench_quality.py --domains perl --label lr --reuse defaults \\
        --run-flags "--lr 5e-5"                                # a lever on the tuning domain, same questions

Per domain (data from bench/quality/build_data.py, built on first use): runs `wmemb run` on the
domain's documentation with the embedded SmolLM2 writing the training questions, the packaged
MiniLM and the CPU, every other setting at its default (expansion with the top 30 suggested terms,
4 epochs) plus the control arm (`--control`: the continued model); only the LLM's work is capped
(`--max-train-passages`, `--max-val-passages`). Then it scores the base, fine-tuned, expanded and
continued models, BM25 and hybrid (BM25 fused with each model) on the domain's human-written questions
(`wmemb evaluate --baseline bm25` on the BEIR folder), and prints expansion's own effect (expanded minus
continued, with its paired interval) and NDCG@10, MRR@10 and hit@1 there, NDCG@10 on the keyword view of
the same questions (their content words, bench/quality/keyword_view.py: keyword search), the same figures on
the run's own synthetic validation questions, and the seconds each stage took. `--until finetune` stops the run
after that stage (no expansion); `--also-score NAME=PATH` scores another model beside them (e.g. an earlier
run's, `{domain}` in PATH standing for the domain). Results go to
`bench/quality/cache/runs/<label>/results.json`, one entry per domain.

`--reuse LABEL` copies that run's working folders (where this label has none yet; with `--fresh`,
always), so split and prepare (the questions) are reused and only what the new flags change
reruns. `--fresh` deletes this label's working folders first (otherwise stages already done are
skipped and cost ~0 s). The domains: perl (tune on it), cvs (confirm on it), gnome-zh (Chinese
mechanics: MiniLM has no CJK vocabulary, so its figures say nothing about quality).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "quality"))

import build_data  # noqa: E402  (bench/quality is not a package; the path is set just above)
from keyword_view import write_keyword_view  # noqa: E402

from wmemb.cli import run_config  # noqa: E402
from wmemb.errors import WMEmbError  # noqa: E402
from wmemb.evaluate.choice import compare  # noqa: E402
from wmemb.evaluate.evaluate import EvaluationResult, evaluate_models  # noqa: E402
from wmemb.pipeline import Pipeline  # noqa: E402

METRICS = {"NDCG@10": "ndcg@10", "MRR@10": "mrr@10", "hit@1": "hit_rate@1"}
# What the README's main job (configs/sample.toml) sets beyond the defaults, caps aside, and the control
# arm (issue 19): the continued model measures what expansion's new terms add beyond more training.
BASE_FLAGS = ["--model", "minilm", "--llm", "local", "--control"]  # every other setting at its default


def reuse_run(source: Path, target: Path) -> None:
    """Copy a finished run's folder; its state names its own paths, so point them at the copy."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)  # models/final stays a link
    state = target / "state.json"
    if state.is_file():
        state.write_text(
            state.read_text(encoding="utf-8").replace(str(source.resolve()), str(target)), encoding="utf-8"
        )


def run_domain(
    domain: str,
    cache: Path,
    workdir: Path,
    flags: list[str],
    until: str | None = None,
    also_score: dict[str, str] | None = None,
) -> dict:
    data = cache / domain
    if not (data / "meta.json").is_file():
        build_data.build([domain], cache)
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    argv = [*BASE_FLAGS, "--corpus", str(data / "corpus.txt"), "--workdir", str(workdir), "--name", domain, *flags]
    command = shlex.join(["wmemb", "run", *argv])
    print(
        f"\n=== {domain}: {meta['questions']} human questions over {meta['passages']} passages\n{command}", flush=True
    )
    pipeline = Pipeline(run_config(argv))  # parsed exactly as `wmemb run` parses the printed command
    started = time.perf_counter()
    records = pipeline.run(until=until)
    seconds = {record.stage: round(record.seconds, 1) for record in records}
    seconds["run"] = round(time.perf_counter() - started, 1)

    ran = {record.stage for record in records}
    models = {"base": pipeline.config.model, "finetuned": str(pipeline.paths.finetuned)}
    if "expand" in ran:
        models["expanded"] = str(pipeline.paths.expanded)
    if "control" in ran:
        models["continued"] = str(pipeline.paths.continued)
    models.update({name: path.format(domain=domain) for name, path in (also_score or {}).items()})
    started = time.perf_counter()
    human = evaluate_models(
        list(models.values()),
        data / "eval",
        out_dir=workdir / "human-eval",
        labels=list(models),
        show_progress=False,
        baselines=("bm25",),
    )
    seconds["human_eval"] = round(time.perf_counter() - started, 1)
    view = write_keyword_view(data / "eval", workdir / "human-keywords" / "eval")
    keywords = evaluate_models(
        list(models.values()),
        workdir / "human-keywords" / "eval",
        out_dir=workdir / "human-keywords",
        labels=list(models),
        show_progress=False,
        baselines=("bm25",),
    )
    seconds["keyword_eval"] = round(time.perf_counter() - started - seconds["human_eval"], 1)
    seconds["total"] = round(seconds["run"] + seconds["human_eval"] + seconds["keyword_eval"], 1)
    # the run's own validation scores, where this run's evaluate stage wrote them (not with --until finetune)
    synthetic = (
        json.loads((pipeline.paths.report / "metrics.json").read_text(encoding="utf-8"))
        if "evaluate" in ran
        else {"models": [], "queries": None}
    )
    summaries = pipeline.summaries()
    prepare, evaluated = summaries.prepare(), summaries.evaluate()
    return {
        "domain": domain,
        "command": command,
        "data": meta,
        "seconds": seconds,
        "prepare": prepare.to_json() if prepare else {},
        "human": {model.label: _pick(model.metrics) for model in human.models},
        "expansion_effect": _expansion_effect(human),
        "keyword_view": {"questions": view["kept"], **{model.label: _pick(model.metrics) for model in keywords.models}},
        "synthetic": {model["label"]: _pick(model["metrics"]) for model in synthetic["models"]},
        "synthetic_queries": synthetic["queries"],
        # the model models/final links to, where this run chose one
        "shipped": evaluated.final.model if "evaluate" in ran and evaluated and evaluated.final else None,
    }


def _expansion_effect(human: EvaluationResult) -> dict | None:
    """Expanded minus continued on the human questions, per query: what the new terms themselves add."""
    labels = {model.label for model in human.models}
    if not {"expanded", "continued"} <= labels:
        return None
    difference = compare(human.scores("continued"), human.scores("expanded"))
    return asdict(difference) if difference else None


def _pick(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(metrics[key], 4) for name, key in METRICS.items()}


def print_result(result: dict) -> None:
    print(f"\n{result['domain']}: {result['data']['questions']} human questions, {result['data']['passages']} passages")
    keywords = result["keyword_view"]
    print(
        f"{'model':16s} " + " ".join(f"{name:>8s}" for name in METRICS) + "  gain NDCG@10 | "
        f"keyword view NDCG@10 (gain; {keywords['questions']} questions) | synthetic val NDCG@10"
    )
    base, keyword_base = result["human"]["base"]["NDCG@10"], keywords["base"]["NDCG@10"]
    for label, metrics in result["human"].items():
        synthetic = result["synthetic"].get(label, {}).get("NDCG@10", float("nan"))
        keyword = keywords[label]["NDCG@10"]
        print(
            f"{label:16s} "
            + " ".join(f"{metrics[name]:8.4f}" for name in METRICS)
            + f"  {metrics['NDCG@10'] - base:+12.4f} | {keyword:.4f} ({keyword - keyword_base:+.4f}) | {synthetic:.4f}"
        )
    effect = result.get("expansion_effect")
    if effect:
        print(
            f"expansion's own effect (expanded - continued): {effect['mean']:+.4f}, 95% CI {effect['low']:+.4f} to "
            f"{effect['high']:+.4f} over {effect['queries']} human questions"
        )
    if result["shipped"]:
        shipped = result["human"][result["shipped"]]["NDCG@10"]
        print(
            f"the run ships the {result['shipped']} model: NDCG@10 {shipped - base:+.4f} over base on the human "
            "questions"
        )
    print("seconds: " + ", ".join(f"{stage} {value:.0f}" for stage, value in result["seconds"].items()))


def passage_cap(value: str) -> int | None:
    """A `--max-*-passages` value: a count, or `all` (no cap: `wmemb run`'s default)."""
    return None if value == "all" else int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default="perl,cvs", help=f"comma-separated: {', '.join(build_data.DOMAINS)}")
    parser.add_argument(
        "--max-train-passages",
        type=passage_cap,
        default=40,
        help="passages SmolLM2 writes training questions for; all: every passage of the split",
    )
    parser.add_argument(
        "--max-val-passages", type=passage_cap, default=25, help="passages it writes validation questions for; all"
    )
    parser.add_argument(
        "--run-flags", default="", help='more `wmemb run` settings, e.g. "--loss cached --batch-size 128"'
    )
    parser.add_argument("--label", default="defaults", help="names this run's folder under --runs")
    parser.add_argument("--reuse", metavar="LABEL", help="start from a copy of that run (same split and questions)")
    parser.add_argument("--runs", type=Path, default=ROOT / "bench" / "quality" / "cache" / "runs")
    parser.add_argument("--cache", type=Path, default=build_data.HERE / "cache", help="built data (build_data.py)")
    parser.add_argument("--fresh", action="store_true", help="delete the domains' working folders of this label first")
    parser.add_argument("--until", choices=["finetune", "expand"], help="stop the run after this stage")
    parser.add_argument(
        "--also-score",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="score this model too ({domain} in PATH: the domain), e.g. an earlier run's models/finetuned",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    domains = [name for name in args.domains.split(",") if name]
    unknown = sorted(set(domains) - set(build_data.DOMAINS))
    if unknown:
        parser.error(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(build_data.DOMAINS)}")
    caps = {"--max-train-passages": args.max_train_passages, "--max-val-passages": args.max_val_passages}
    flags = [*(part for flag, cap in caps.items() if cap is not None for part in (flag, str(cap)))]
    flags += shlex.split(args.run_flags)
    also_score = dict(item.split("=", 1) for item in args.also_score)
    out = args.runs / args.label
    started = time.perf_counter()
    results = []
    for domain in domains:
        workdir = out / domain
        if args.fresh:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.reuse and not workdir.exists():
            reuse_run(args.runs / args.reuse / domain, workdir)
        try:
            results.append(run_domain(domain, args.cache, workdir, flags, args.until, also_score))
        except (WMEmbError, click.ClickException) as exc:  # bad settings: say what to change, as `wmemb run` does
            raise SystemExit(f"error: {domain}: {exc}") from None
        print_result(results[-1])
    total = time.perf_counter() - started
    for result in results:
        result["argv"] = sys.argv[1:]
    # domains may be run one call at a time: keep the other domains' results of this label
    path = out / "results.json"
    earlier = json.loads(path.read_text(encoding="utf-8"))["domains"] if path.is_file() else []
    kept = [result for result in earlier if result["domain"] not in domains]
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"label": args.label, "domains": kept + results}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"\n=== {args.label}: {total / 60:.1f} min for {', '.join(domains)}; results in {path}")
    for result in results:
        print_result(result)


if __name__ == "__main__":
    main()
