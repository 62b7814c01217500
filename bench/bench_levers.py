"""Training levers and judges, on the questions of a quality-benchmark run (issue 24).

    python bench/bench_levers.py --label s400 --domains perl,cvs --arm default --merge 0.5
    python bench/bench_levers.py --label s400 --domains perl --arm run --merge 0.5   # the run's own models
    python bench/bench_levers.py --label s400 --domains perl --arm cached128 --loss cached --batch-size 128
    python bench/bench_levers.py --label s400 --summary          # judges' agreement with the human questions

An arm fine-tunes the base model (packaged MiniLM) on the training questions of
`bench/quality/cache/runs/<label>/<domain>/` (what `bench_quality.py` wrote) with the given settings,
keeps a snapshot after every epoch, and averages each snapshot with the base for every `--merge`
weight; the arm `run` trains nothing and takes the run's own fine-tuned and expanded models. Every
model (and the base) is then scored by every judge:

    human      the domain's questions people wrote (the truth; never used to choose anything)
    synthetic  the run's validation questions (SmolLM2's), among every validation passage: what the
               pipeline chooses its final model on today
    cloze      one sentence cut out of each validation passage finds the rest of it among every
               validation passage (wmemb.evaluate.cloze): no LLM text in it
    general    the same cloze task on text of another domain (the bundled Debian Reference
               chapters): does the model forget what it could do outside the domain?

Results: `<run>/levers/<arm>.json`. `--summary` reads every arm of every domain and prints, per
judge, how often its verdict against the base (better or not) matches the human questions', and the
rank correlation of its gains with the human gains.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "quality"))

import build_data  # noqa: E402  (bench/quality is not a package; the path is set just above)

from wmemb.evaluate.cloze import cloze_dataset  # noqa: E402
from wmemb.evaluate.data import EvalData, load_eval_data  # noqa: E402
from wmemb.evaluate.evaluate import evaluate_models  # noqa: E402
from wmemb.models import load_sentence_model, resolve_model  # noqa: E402
from wmemb.records import read_nodes  # noqa: E402
from wmemb.train.finetune import FinetuneOptions, finetune  # noqa: E402
from wmemb.train.merge import merge_with_base  # noqa: E402

JUDGES = ("human", "synthetic", "cloze", "general")
GENERAL_TEXT = ROOT / "data" / "sample" / "debian-reference-en-ch1-2.txt"  # out of every benchmark domain
METRIC = "ndcg@10"


class EpochSnapshots(TrainerCallback):
    """Saves the model after every epoch (the Trainer keeps only two checkpoints)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.saved: list[tuple[int, Path]] = []

    def on_epoch_end(self, args, state, control, **kwargs):
        epoch = round(state.epoch)
        path = self.folder / f"epoch-{epoch}"
        kwargs["model"].save(str(path))
        self.saved.append((epoch, path))


def judges_for(workdir: Path, domain: str, cache: Path) -> dict[str, EvalData]:
    val_nodes = read_nodes(workdir / "nodes" / f"{domain}_val_nodes.jsonl")
    cloze = cloze_dataset(((node.id, node.titled_text()) for node in val_nodes), seed=0).validate("cloze")
    general_passages = build_data.chunk(GENERAL_TEXT.read_text(encoding="utf-8"), 1000)
    general = cloze_dataset(((f"g{i:04d}", text) for i, text in enumerate(general_passages)), seed=0)
    return {
        "general": EvalData(name="general", source=GENERAL_TEXT, dataset=general.validate("general")),
        "human": load_eval_data(cache / domain / "eval"),
        "synthetic": load_eval_data(workdir / "data" / f"{domain}_val_dataset.json"),
        "cloze": EvalData(name="cloze", source=workdir / "nodes", dataset=cloze),
    }


def run_arm(args: argparse.Namespace, domain: str) -> dict:
    workdir = args.runs / args.label / domain
    out = workdir / "levers" / args.arm
    shutil.rmtree(out, ignore_errors=True)
    base = str(resolve_model("minilm"))
    options = FinetuneOptions(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, loss=args.loss, scale=args.scale, overwrite=True
    )
    snapshots = EpochSnapshots(out / "snapshots")
    started = time.perf_counter()
    train = workdir / "data" / f"{domain}_train_dataset.json"
    trained: list[tuple[str, Path]] = []
    if args.arm == "run":  # no training: the run's own models
        trained = [(name, workdir / "models" / name) for name in ("finetuned", "expanded")]
        trained = [(name, path) for name, path in trained if path.is_dir()]
    else:
        finetune(base, out / "last", train, None, options, [snapshots])
        trained = [(f"e{epoch}", path) for epoch, path in snapshots.saved if epoch in args.score_epochs]
    train_seconds = time.perf_counter() - started
    models = {"base": base}
    for label, path in trained:
        models[label] = str(path)
        for weight in args.merge:
            merged = load_sentence_model(path, device="cpu").model
            merge_with_base(merged, base, weight)
            target = out / "merged" / f"{label}-m{weight:g}"
            merged.save(str(target))
            models[f"{label}-m{weight:g}"] = str(target)
    scores: dict[str, dict[str, dict]] = {label: {} for label in models}
    for judge, data in judges_for(workdir, domain, args.cache).items():
        # on the human questions, BM25 and hybrid (BM25 fused with each model) too: the baselines to beat
        baselines = ("bm25",) if judge == "human" else ()
        result = evaluate_models(
            list(models.values()), data, labels=list(models), show_progress=False, baselines=baselines
        )
        for model in result.models:
            scores.setdefault(model.label, {})[judge] = {
                METRIC: round(model.metrics[METRIC], 4),
                "per_query": [round(query.ndcg, 4) for query in model.per_query],
            }
    shutil.rmtree(out / "snapshots", ignore_errors=True)  # ~90 MB a model; the scores are what we keep
    shutil.rmtree(out / "merged", ignore_errors=True)
    return {
        "domain": domain,
        "arm": args.arm,
        "argv": sys.argv[1:],
        "train_pairs": len(json.loads(train.read_text(encoding="utf-8"))["queries"]),
        "train_seconds": round(train_seconds, 1),
        "models": scores,
    }


def print_arm(result: dict) -> None:
    base = result["models"]["base"]
    print(f"\n{result['domain']} / {result['arm']}: NDCG@10 (gain over base)")
    print(f"{'model':16s}" + "".join(f"{judge:>20s}" for judge in JUDGES))
    for label, judged in result["models"].items():
        cells = []
        for judge in JUDGES:
            if judge not in judged:
                cells.append("")
                continue
            value = judged[judge][METRIC]
            gain = value - base[judge][METRIC]
            cells.append(f"{value:.4f} ({gain:+.4f})" if label != "base" else f"{value:.4f}")
        print(f"{label:16s}" + "".join(f"{cell:>20s}" for cell in cells))


def summary(args: argparse.Namespace) -> None:
    """Per judge: agreement with the human verdict (gain > 0 or not) and Spearman's rho of the gains."""
    rows: dict[str, list[tuple[float, float]]] = {judge: [] for judge in JUDGES if judge != "human"}
    for path in sorted((args.runs / args.label).glob("*/levers/*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        base = result["models"]["base"]
        for label, judged in result["models"].items():
            if label == "base" or set(judged) != set(JUDGES):  # the baselines have human scores only
                continue
            human = judged["human"][METRIC] - base["human"][METRIC]
            for judge in rows:
                rows[judge].append((judged[judge][METRIC] - base[judge][METRIC], human))
    for judge, pairs in rows.items():
        if not pairs:
            continue
        judged, human = np.array(pairs).T
        agree = np.mean((judged > 0) == (human > 0))
        rho = np.corrcoef(np.argsort(np.argsort(judged)), np.argsort(np.argsort(human)))[0, 1]
        print(f"{judge:10s} {len(pairs):3d} models: verdict agrees {agree:.0%}, Spearman rho {rho:+.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="s400", help="the bench_quality.py run whose questions to train on")
    parser.add_argument("--domains", default="perl,cvs")
    parser.add_argument("--arm", default="default", help="names this arm's results")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--loss", default="mnrl", choices=["mnrl", "cached"])
    parser.add_argument("--scale", type=float)
    parser.add_argument("--merge", type=float, action="append", default=[], help="base weight; repeat")
    parser.add_argument("--score-epochs", default="1,2,3,4", help="the epochs whose snapshots are scored")
    parser.add_argument("--summary", action="store_true", help="only print the judges' agreement")
    parser.add_argument("--runs", type=Path, default=ROOT / "bench" / "quality" / "cache" / "runs")
    parser.add_argument("--cache", type=Path, default=build_data.HERE / "cache")
    args = parser.parse_args()
    args.score_epochs = {int(epoch) for epoch in args.score_epochs.split(",")}
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.summary:
        summary(args)
        return
    for domain in [name for name in args.domains.split(",") if name]:
        result = run_arm(args, domain)
        path = args.runs / args.label / domain / "levers" / f"{args.arm}.json"
        path.write_text(json.dumps(result, ensure_ascii=False) + "\n", encoding="utf-8")
        print_arm(result)


if __name__ == "__main__":
    main()
