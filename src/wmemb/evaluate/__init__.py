"""Stage 5: evaluate embedding models on queries with known answers and compare them.

from wmemb.evaluate import evaluate_models
result = evaluate_models(["minilm", "weights/finetuned"], "data/book_val_dataset.json", out_dir="report")
result.scores("weights/finetuned").metrics["ndcg@10"]

With baselines=["bm25"], the result also has the rows "bm25" and "hybrid(<model>)" for each model.
"""

from wmemb.evaluate.bm25 import BM25Index, reciprocal_rank_fusion
from wmemb.evaluate.data import EvalData, load_eval_data
from wmemb.evaluate.evaluate import evaluate_models
from wmemb.evaluate.metrics import metric_names
from wmemb.evaluate.report import metrics_chart, metrics_markdown, metrics_table, write_reports
from wmemb.evaluate.results import EvaluationResult, ModelScores, QueryResult

__all__ = [
    "BM25Index",
    "EvalData",
    "EvaluationResult",
    "ModelScores",
    "QueryResult",
    "evaluate_models",
    "load_eval_data",
    "metric_names",
    "metrics_chart",
    "metrics_markdown",
    "metrics_table",
    "reciprocal_rank_fusion",
    "write_reports",
]
