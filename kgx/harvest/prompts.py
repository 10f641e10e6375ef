"""The prompt set of a relation: LLM paraphrases, fuzzy de-duplicated, weighted by the seeds.

- Paraphrases are kept only if their rapidfuzz ratio to every kept prompt is below 75 and they
  keep every slot; the set stops at about 10 prompts.
- A prompt's weight is (mean seed score − 0.5 × mean corrupted-seed score) / 2, where corrupted
  seeds swap entities between seeds; the top 20 go through a softmax, and weights below 0.05
  are set to zero (the rest renormalised).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from kgx.llm.types import LLMRequest, SamplingParams

from .relation import Relation, slots_of
from .scoring import score_tuples

MAX_PROMPTS = 10
FUZZY_DUPLICATE = 75.0
TEMPERATURE = 2.0
TOP_PROMPTS = 20
MIN_WEIGHT = 0.05
PARAPHRASE_PROMPT = "harvest.paraphrase.v1"


class Paraphrases(BaseModel):
    """Reworded prompts."""

    paraphrases: list[str] = Field(default_factory=list)


def prompt_set(llm, relation: Relation, max_prompts: int = MAX_PROMPTS,
               paraphrase: bool = True) -> list[str]:
    """The relation's prompts plus LLM paraphrases, de-duplicated, at most `max_prompts`."""
    kept: list[str] = []
    for prompt in (*relation.init_prompts, *relation.prompts):
        _keep(kept, prompt, relation.arity)
    if paraphrase and len(kept) < max_prompts:
        for candidate in _paraphrases(llm, relation.init_prompts[0], max_prompts):
            _keep(kept, candidate, relation.arity)
    return kept[:max_prompts]


def _keep(kept: list[str], prompt: str, arity: int) -> None:
    from rapidfuzz import fuzz

    prompt = " ".join(prompt.split())
    if sorted(set(slots_of(prompt))) != list(range(arity)):
        return
    if all(fuzz.ratio(prompt, other) < FUZZY_DUPLICATE for other in kept):
        kept.append(prompt)


def _paraphrases(llm, prompt: str, count: int) -> list[str]:
    slots = ", ".join(sorted(set(f"<ENT{n}>" for n in slots_of(prompt))))
    request = LLMRequest.from_prompt(
        f"Write {count} different sentences that say the same as: \"{prompt}\"\n"
        f"Keep the placeholders {slots} exactly as written, once each.\n"
        'Reply as {"paraphrases": ["...", "..."]}.',
        system="You paraphrase sentences. Reply with JSON only.", response_model=Paraphrases,
        key=PARAPHRASE_PROMPT, params=SamplingParams(max_tokens=512))
    [reply] = llm.generate([request], on_error="skip-and-record")
    return reply.parsed.paraphrases if reply.parsed else []


def corrupt(seeds: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """Seeds with entities swapped between them: seed i keeps its first entity, the rest come
    from seed i + 1, so a good prompt should score them lower."""
    if len(seeds) < 2:
        return []
    return [(seeds[i][0], *seeds[(i + 1) % len(seeds)][1:]) for i in range(len(seeds))]


def weigh_prompts(llm, prompts: Sequence[str], seeds: Sequence[Sequence[str]]
                  ) -> list[tuple[str, float]]:
    """(prompt, weight) for every prompt, heaviest first; weights sum to 1."""
    good = score_tuples(llm, prompts, seeds)
    bad = score_tuples(llm, prompts, corrupt(seeds)) if len(seeds) > 1 else []
    raw = []
    for j, prompt in enumerate(prompts):
        value = _mean([row[j] for row in good])
        if bad:
            value -= 0.5 * _mean([row[j] for row in bad])
        raw.append((prompt, value / TEMPERATURE))
    raw = sorted(raw, key=lambda item: item[1], reverse=True)[:TOP_PROMPTS]
    return _normalise(raw)


def _normalise(raw: list[tuple[str, float]]) -> list[tuple[str, float]]:
    top = max(v for _, v in raw)
    exp = [(p, math.exp(v - top)) for p, v in raw]
    total = math.fsum(v for _, v in exp)
    weights = [(p, v / total) for p, v in exp]
    kept = [(p, w) for p, w in weights if w >= MIN_WEIGHT] or weights[:1]
    total = math.fsum(w for _, w in kept)
    return [(p, w / total) for p, w in kept]


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else -50.0
