"""What a prepare run will cost, said before the LLM work starts: requests, prompt and reply tokens, and
(from the first replies) time.

Tokens are estimated from characters, since a server's tokenizer is not known here. The embedded
SmolLM2's tokenizer, measured on the bundled Debian Reference sample, takes 4.5 characters a token in
English (3.6 in perl's documentation, which holds code) and 0.8 in its mostly-Chinese lines; tokenizers
built for Chinese (Qwen's) pack Chinese denser, so the zh figure errs high for them. Where the replies cache
already holds answered requests of a language, their recorded token counts calibrate that language's estimate
instead: per language, since a token holds ~5 times more characters in English than in Chinese, and a run killed
midway has answered one language first (prepare sends one language at a time).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = {"zh": 0.8, "en": 4.0}  # any other language counts as English
REPLY_TOKENS_PER_QUERY = 25  # a question or keyword line with its numbering, before any reply calibrates it
RATE_SAMPLE = 16  # replies, after the first `concurrency`, over which the rate of the time left is measured
CAP_HINT = "to ask about fewer passages, set max_train_passages / max_val_passages (--max-train-passages N)"


@dataclass(frozen=True)
class Answered:
    """A request the replies cache already answered: what it sent and what it cost."""

    language: str  # of its prompt
    prompt_chars: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class CostEstimate:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    languages: frozenset[str]  # of the prompts to send
    calibrated: frozenset[str]  # those estimated from the cached replies' token counts; the others from characters

    def sentence(self) -> str:
        if self.calibrated == self.languages:
            how = "at the token counts of the cached replies"
        elif not self.calibrated:
            how = "from their characters"
        else:
            how = (
                f"{', '.join(sorted(self.calibrated))} at the token counts of the cached replies, "
                f"{', '.join(sorted(self.languages - self.calibrated))} from their characters"
            )
        return (
            f"{self.requests} requests to send: about {self.prompt_tokens:,} prompt tokens and "
            f"{self.completion_tokens:,} reply tokens (estimated {how})"
        )


def estimate_cost(
    prompts: Sequence[tuple[str, str]], queries_per_request: int, answered: Sequence[Answered] = ()
) -> CostEstimate:
    """The cost of sending `prompts` ((language, prompt text) per request), each asking for
    `queries_per_request` queries; `answered`: requests of the same run already answered, which calibrate the
    estimate of their language."""
    # language -> [characters sent, prompt tokens, reply tokens, requests] of the answered requests
    sent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for item in answered:
        totals = sent[item.language]
        totals[0] += item.prompt_chars
        totals[1] += item.prompt_tokens
        totals[2] += item.completion_tokens
        totals[3] += 1
    calibrated = {language for language, (chars, tokens, _, _) in sent.items() if chars > 0 and tokens > 0}
    prompt_tokens = reply_tokens = 0.0
    for language, text in prompts:
        if language in calibrated:
            chars, tokens, replied, requests = sent[language]
            prompt_tokens += len(text) * tokens / chars
            reply_tokens += replied / requests
        else:
            prompt_tokens += len(text) / CHARS_PER_TOKEN.get(language, CHARS_PER_TOKEN["en"])
            reply_tokens += queries_per_request * REPLY_TOKENS_PER_QUERY
    languages = frozenset(language for language, _ in prompts)
    return CostEstimate(
        len(prompts), round(prompt_tokens), round(reply_tokens), languages, frozenset(calibrated & languages)
    )


def time_left_sentence(replies: int, seconds: float, remaining: int, in_flight: int) -> str:
    """The time the `remaining` requests take at the rate of `replies` that took `seconds` with `in_flight` requests
    in flight."""
    rate = replies / seconds if seconds > 0 else float("inf")
    left = remaining / rate if rate > 0 else 0.0
    return (
        f"{replies} replies took {seconds:.1f} s with {in_flight} in flight ({rate:.2f} requests/s): the remaining "
        f"{remaining} take about {_duration(left)} at that rate; {CAP_HINT}"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
