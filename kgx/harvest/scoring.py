"""BertNet's tuple score with a causal LM, through the LLM layer's batched `score`.

The score of a tuple under a prompt is the mean of three numbers over the entities' tokens: the
average token log-prob, the log-prob sum divided by the number of entities, and the minimum
token log-prob. A causal LM reads left to right, so an entity's tokens are scored given the
prompt text and the entities before them. Every text starts with `LEAD` so that a prompt that
opens with an entity still has a context for its first token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kgx.llm.types import ScoredText, ScoreRequest

from .relation import SLOT

LEAD = "\n"


@dataclass(frozen=True)
class Filled:
    """A prompt with its slots filled: the text and each entity's character span."""

    text: str
    spans: tuple[tuple[int, int], ...]


def fill(prompt: str, entities: Sequence[str]) -> Filled:
    """`prompt` with `<ENTi>` replaced by `entities[i]`, after `LEAD`."""
    parts, spans, at = [LEAD], [], len(LEAD)
    last = 0
    for match in SLOT.finditer(prompt):
        parts.append(prompt[last:match.start()])
        at += match.start() - last
        entity = entities[int(match.group(1))]
        spans.append((at, at + len(entity)))
        parts.append(entity)
        at += len(entity)
        last = match.end()
    parts.append(prompt[last:])
    return Filled("".join(parts), tuple(spans))


def score_request(filled: Filled) -> ScoreRequest:
    """Score everything from the first entity on (a space before it goes with it)."""
    start = min(s for s, _ in filled.spans)
    if start > len(LEAD) and filled.text[start - 1] == " ":
        start -= 1
    return ScoreRequest(prompt=filled.text[:start], continuation=filled.text[start:])


def entity_logprobs(filled: Filled, request: ScoreRequest,
                    scored: ScoredText) -> list[float] | None:
    """Log-probs of the tokens that overlap an entity, or None if tokens do not spell the text."""
    if "".join(scored.tokens) != request.continuation:
        return None
    offset, values = len(request.prompt), []
    for token, logprob in zip(scored.tokens, scored.logprobs, strict=True):
        end = offset + len(token)
        if any(offset < e and s < end for s, e in filled.spans):
            values.append(logprob)
        offset = end
    return values


def combine(logprobs: Sequence[float], entities: int) -> float:
    """BertNet's score: mean of (average, sum / entities, minimum) of the entity log-probs."""
    if not logprobs:
        return -math.inf
    total = math.fsum(logprobs)
    return (total / len(logprobs) + total / entities + min(logprobs)) / 3


def score_tuples(llm, prompts: Sequence[str], tuples: Sequence[Sequence[str]]
                 ) -> list[list[float]]:
    """The score of every tuple under every prompt, `[tuple][prompt]`, in one batched call."""
    filled = [fill(p, t) for t in tuples for p in prompts]
    requests = [score_request(f) for f in filled]
    scored = llm.score(requests)
    flat = []
    for f, request, result in zip(filled, requests, scored, strict=True):
        values = entity_logprobs(f, request, result)
        flat.append(combine(result.logprobs if values is None else values, len(f.spans)))
    width = len(prompts)
    return [flat[i * width:(i + 1) * width] for i in range(len(tuples))]
