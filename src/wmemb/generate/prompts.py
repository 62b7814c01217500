"""Query-writing prompts: English and Chinese built in for each query style, or the user's own llama_index-style
template for questions.

A passage gets the prompt of its main language (`wmemb.text.main_language`): mostly Han -> Chinese
prompt (and so Chinese queries), otherwise English. Each style in `query_styles` has its own pair: `questions`
(whole questions) and `keywords` (what people type into a search box). A custom template (`--prompt-file`) uses
llama_index's placeholders `{context_str}` and `{num_questions_per_chunk}` and replaces the question prompts for
every passage; the other styles keep their built-in prompts (a llama_index template asks for questions).

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

# Keyword queries: content words only, as typed into a search box. "Not copied" asks for the words a searcher would
# use rather than a phrase lifted from the passage (which the filters drop).
KEYWORDS_EN_TEMPLATE = """Context:
{context_str}

Write {num_questions_per_chunk} different search-engine queries that someone would type to find this context. \
Each query is 2 to 6 keywords, not a sentence and not a question, and not copied from the context. \
One query per line, no numbering, no explanations."""

KEYWORDS_ZH_TEMPLATE = """材料：
{context_str}

请写出{num_questions_per_chunk}个不同的搜索关键词组合，用于在搜索引擎中找到上面的材料。\
每个组合由2到4个词语组成，词语之间用空格分开，不要写成句子或问题，不要用“吗”“呢”“什么”“如何”等疑问词，\
不要照抄材料中的句子。每行一个，不要编号，不要解释。"""

TEMPLATES: dict[str, dict[str, str]] = {
    "questions": {"en": EN_TEMPLATE, "zh": ZH_TEMPLATE},
    "keywords": {"en": KEYWORDS_EN_TEMPLATE, "zh": KEYWORDS_ZH_TEMPLATE},
}
"""style -> language -> template; the styles are the choices of the `query_styles` setting."""

JSON_SUFFIX = {
    "en": '\n\nAnswer with a JSON object only: {{"{key}": ["...", "..."]}}',
    "zh": '\n\n只输出一个JSON对象：{{"{key}": ["...", "..."]}}',
}

PLACEHOLDERS = ("{context_str}", "{num_questions_per_chunk}")


def fill(template: str, context: str, n: int) -> str:
    """Substitute the two llama_index placeholders in one pass (`{{`/`}}` are literal braces, as in
    str.format); braces inside the passage itself are left alone."""
    values = {"{context_str}": context, "{num_questions_per_chunk}": str(n), "{{": "{", "}}": "}"}
    return re.sub(r"\{\{|\}\}|\{context_str\}|\{num_questions_per_chunk\}", lambda m: values[m.group(0)], template)


@dataclass(frozen=True)
class PromptSet:
    """The templates in use: per style, one per language, or a single custom one (questions) for every passage."""

    templates: dict[str, dict[str, str]]  # style -> language -> template; a custom one is stored under "custom"
    json_mode: bool = False

    @classmethod
    def builtin(cls, json_mode: bool = False) -> PromptSet:
        return cls(TEMPLATES, json_mode)

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
        return cls({**TEMPLATES, "questions": {"custom": template}}, json_mode)

    def is_custom(self, style: str) -> bool:
        """Whether `style` is asked with the user's template (which then decides the language of its queries)."""
        return "custom" in self.templates[style]

    def template_for(self, text: str, style: str = "questions") -> tuple[str, str]:
        """(language, template) for a passage."""
        language = main_language(text)
        templates = self.templates[style]
        template = templates.get("custom") or templates[language]
        if self.json_mode:
            template += JSON_SUFFIX[language].replace("{key}", style)
        return language, template

    def render(self, text: str, n: int, style: str = "questions") -> tuple[str, str, str]:
        """(language, template, user message) for a passage."""
        language, template = self.template_for(text, style)
        return language, template, fill(template, text, n)
