"""Split throughput and memory: wmemb vs llama_index's SentenceSplitter, same text, same tokenizer.

    python bench/bench_split.py [--mb 10] [--chunk-tokens 256]

Builds ~N MB of mixed Chinese/English text by repeating the bundled sample corpus (each copy made
unique so nothing is deduplicated), then runs each splitter in its own subprocess and prints MB/s,
passages and peak RSS (ru_maxrss of the child). Target: wmemb >= 2x faster, peak RSS < 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "data/sample/debian-reference-en-ch1-2.txt", ROOT / "data/sample/debian-reference-zh-cn-ch1.txt"]

CHILD = r"""
import json, resource, sys, time
kind, path, model, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = open(path, encoding="utf-8").read()
from wmemb.models import load_tokenizer
tokenizer = load_tokenizer(model)
start = time.perf_counter()
if kind == "wmemb":
    from wmemb.corpus import SplitOptions, Splitter
    from wmemb.corpus.read import Document
    splitter = Splitter(tokenizer, SplitOptions(chunk_tokens=chunk))
    passages = len(splitter.split_document(Document(path, text), set()).kept)
else:
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    splitter = SentenceSplitter(chunk_size=chunk, chunk_overlap=0,
                                tokenizer=lambda t: tokenizer(t, add_special_tokens=False)["input_ids"])
    passages = len(splitter.get_nodes_from_documents([Document(text=text)]))
seconds = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "passages": passages, "rss_mb": rss_mb}))
"""


def make_corpus(path: Path, megabytes: float) -> int:
    base = "\n\n".join(sample.read_text(encoding="utf-8") for sample in SAMPLES)
    target = int(megabytes * 1024 * 1024)
    with path.open("w", encoding="utf-8") as out:
        written, copy = 0, 0
        while written < target:
            chunk = f"\n\n副本 {copy}. Copy {copy}.\n\n" + base.replace("Debian", f"Debian{copy}").replace(
                "系统", f"系统{copy}"
            )
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
            copy += 1
    return path.stat().st_size


def offline_nltk_data(folder: Path) -> Path:
    """llama_index insists on finding NLTK's stopwords and punkt_tab folders (it downloads them when
    online) but its SentenceSplitter uses an untrained PunktSentenceTokenizer(); placeholders suffice."""
    (folder / "corpora/stopwords").mkdir(parents=True)
    (folder / "corpora/stopwords/english").write_text("a\nan\nthe\nof\nand\n", encoding="utf-8")
    (folder / "tokenizers/punkt_tab/english").mkdir(parents=True)
    return folder


def run(kind: str, path: Path, model: str, chunk: int, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path), model, str(chunk)], capture_output=True, text=True, env=env
    )
    if done.returncode:
        sys.exit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--chunk-tokens", type=int, default=256)
    parser.add_argument("--model", default="minilm", help="BERT tokenizer to count with (default: packaged MiniLM)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "mixed.txt"
        size = make_corpus(corpus, args.mb)
        mb = size / 1024 / 1024
        print(f"corpus: {mb:.1f} MB mixed zh/en, chunk {args.chunk_tokens} tokens, tokenizer {args.model}")
        env = {**os.environ, "NLTK_DATA": str(offline_nltk_data(Path(tmp) / "nltk")), "TOKENIZERS_PARALLELISM": "true"}
        results = {kind: run(kind, corpus, args.model, args.chunk_tokens, env) for kind in ("wmemb", "llama_index")}
    for kind, r in results.items():
        print(
            f"{kind:12s} {r['seconds']:7.1f} s  {mb / r['seconds']:6.2f} MB/s  {r['passages']:7d} passages  "
            f"peak RSS {r['rss_mb']:6.0f} MB"
        )
    ratio = results["llama_index"]["seconds"] / results["wmemb"]["seconds"]
    print(f"speed ratio wmemb / llama_index: {ratio:.2f}x (target >= 2)")
    print(f"wmemb peak RSS {results['wmemb']['rss_mb']:.0f} MB (target < 1024)")


if __name__ == "__main__":
    main()
