"""Question-writing prompts: English and Chinese built in, or the user's own llama_index-style template.

A passage gets the prompt of its main language (`wmemb.text.main_language`): mostly Han -> Chinese
prompt (and so Chinese questions), otherwise English. A custom template (`--prompt-file`) uses
llama_index's placeholders `{context_str}` and `{num_questions_per_chunk}` and is used for every passage.

The built-in prompts are short and direct: on small models llama_index's long "You are a Teacher/
Professor..." prompt mostly produced chatter instead of questions (with SmolLM2-135M, fine-tuning on
them lowered NDCG@10 on human-written questions by about 0.02).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.text import main_language

EN_TEMPLATE = """Context:
{context_str}

Write {num_questions_per_chunk} different questions that this context answers. \
Each question must make sense on its own, without seeing the context. \
One question per line, no numbering, no answers."""

ZH_TEMPLATE = """材料：
{context_str}

请根据上面的材料写出{num_questions_per_chunk}个不同的问题，这些问题的答案都在材料中。\
每个问题都要能独立理解，不要提到“材料”或“上文”。每行一个问题，不要编号，不要写答案。"""

JSON_SUFFIX = {
    "en": '\n\nAnswer with a JSON object only: {{"questions": ["...", "..."]}}',
    "zh": '\n\n只输出一个JSON对象：{{"questions": ["...", "..."]}}',
}

PLACEHOLDERS = ("{context_str}", "{num_questions_per_chunk}")


def fill(template: str, context: str, n: int) -> str:
    """Substitute the two llama_index placeholders in one pass (`{{`/`}}` are literal braces, as in
    str.format); braces inside the passage itself are left alone."""
    values = {"{context_str}": context, "{num_questions_per_chunk}": str(n), "{{": "{", "}}": "}"}
    return re.sub(r"\{\{|\}\}|\{context_str\}|\{num_questions_per_chunk\}", lambda m: values[m.group(0)], template)


@dataclass(frozen=True)
class PromptSet:
    """The templates in use: one per language, or a single custom one for every passage."""

    templates: dict[str, str]  # language -> template; a custom template is stored under "custom"
    json_mode: bool = False

    @classmethod
    def builtin(cls, json_mode: bool = False) -> PromptSet:
        return cls({"en": EN_TEMPLATE, "zh": ZH_TEMPLATE}, json_mode)

    @classmethod
    def from_file(cls, path: str | Path, json_mode: bool = False) -> PromptSet:
        source = Path(path)
        if not source.is_file():
            raise WMEmbError(f"{source}: prompt file not found; pass a text file to --prompt-file")
        template = source.read_text(encoding="utf-8-sig")
        if "{context_str}" not in template:
            raise WMEmbError(
                f"{source}: the prompt template has no {{context_str}} placeholder; add it where the passage goes"
            )
        return cls({"custom": template}, json_mode)

    def template_for(self, text: str) -> tuple[str, str]:
        """(language, template) for a passage."""
        language = main_language(text)
        template = self.templates.get("custom") or self.templates[language]
        if self.json_mode:
            template += JSON_SUFFIX[language]
        return language, template

    def render(self, text: str, n: int) -> tuple[str, str, str]:
        """(language, template, user message) for a passage."""
        language, template = self.template_for(text)
        return language, template, fill(template, text, n)
