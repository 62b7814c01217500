"""Regenerate tests/generate/data/smollm2_replies.json: real SmolLM2 replies for the parser tests.

    python tests/generate/capture_smollm2.py NODES.jsonl [COUNT]

Each passage is asked twice: with wmemb's English prompt and with llama_index's default QA prompt
(whose replies are full of the chatter the parser must survive). Not a test: run it by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wmemb.generate.backends.local import generate_batch, load_causal_lm, smollm2_gguf
from wmemb.generate.prompts import EN_TEMPLATE, fill
from wmemb.records import read_nodes

LLAMA_INDEX_TEMPLATE = """\
Context information is below.

---------------------
{context_str}
---------------------

Given the context information and no prior knowledge.
generate only questions based on the below query.

You are a Teacher/ Professor. Your task is to setup \
{num_questions_per_chunk} questions for an upcoming \
quiz/examination. The questions should be diverse in nature \
across the document. Restrict the questions to the \
context information provided."
"""


def main() -> None:
    nodes = [node for node in read_nodes(sys.argv[1]) if len(node.text) > 200][
        : int(sys.argv[2]) if len(sys.argv) > 2 else 6
    ]
    llm = load_causal_lm(str(smollm2_gguf()))
    tokenizer, model = llm.tokenizer, llm.model
    captured = []
    for style, template in (("wmemb", EN_TEMPLATE), ("llama_index", LLAMA_INDEX_TEMPLATE)):
        prompts = [fill(template, node.text, 2) for node in nodes]
        for node, completion in zip(nodes, generate_batch(tokenizer, model, prompts, max_new_tokens=120)):
            captured.append({"prompt_style": style, "passage": node.text, "reply": completion.text})
    target = Path(__file__).parent / "data" / "smollm2_replies.json"
    target.write_text(json.dumps(captured, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(captured)} replies -> {target}")


if __name__ == "__main__":
    main()
