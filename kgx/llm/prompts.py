"""Versioned prompt templates: a system message, a user message with {placeholders}, and the
schema the reply must follow. Extractors, retrievers and the knowledge base build theirs on it.

    ANSWER = PromptTemplate(name="answer.v1", system="...", user="Q: {text}", reply=Answer)
    llm.generate([ANSWER.request("q1", text="Who wrote it?")])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kgx.chunking import approximate_token_count
from kgx.llm.types import LLMRequest, SamplingParams


@dataclass(frozen=True)
class PromptTemplate:
    """A system message, a user message with {placeholders}, and the reply schema."""

    name: str
    system: str
    user: str
    reply: type[BaseModel]
    max_tokens: int = 1024
    """The largest reply cap, for the longest inputs."""
    sized_by: str = "text"
    """The field whose length sizes the reply cap (see `reply_cap`)."""
    reply_per_token: float = 4.0
    """Reply tokens allowed per token of the sized field, beyond REPLY_FLOOR."""

    def request(self, key: str, **fields: Any) -> LLMRequest:
        """The request for one input; `key` names it in errors and records."""
        cap = self.reply_cap(str(fields.get(self.sized_by, "")))
        return LLMRequest.from_prompt(self.user.format(**fields), system=self.system,
                                      response_model=self.reply, key=key,
                                      params=SamplingParams(max_tokens=cap))

    def reply_cap(self, text: str) -> int:
        """A reply cap sized to the input: a reply far longer than its passage is a small model
        looping, and is better cut early than after `max_tokens` tokens."""
        return reply_cap(approximate_token_count(text), self.reply_per_token, self.max_tokens)


REPLY_FLOOR = 128


def reply_cap(input_tokens: int, per_token: float, ceiling: int) -> int:
    """`per_token` reply tokens per input token plus REPLY_FLOOR, at most `ceiling`.

    The teacher's OpenIE replies to the 1,574 MuSiQue passages the student learned from run 2.1
    reply tokens per passage token at the median and 4.3 at the 99th percentile.
    """
    return max(1, min(ceiling, int(per_token * input_tokens) + REPLY_FLOOR))
