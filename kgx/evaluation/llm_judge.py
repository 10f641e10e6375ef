"""`LLMJudge`: entailment decided by any kgx `LLM`, all pairs in one batched `generate` call."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from kgx.llm.protocol import LLM
from kgx.llm.types import LLMRequest, SamplingParams

PROMPT_VERSION = "kgx.eval.entailment.v1"
_PROMPT = """Decide whether the PREMISE entails the HYPOTHESIS: everything the hypothesis states \
must follow from the premise alone. Paraphrases count; facts missing from the premise do not.

PREMISE:
{premise}

HYPOTHESIS:
{hypothesis}

Answer with JSON: {{"entailed": true}} or {{"entailed": false}}."""


class EntailmentVerdict(BaseModel):
    """The judge's structured reply."""

    model_config = ConfigDict(extra="forbid")

    entailed: bool


class LLMJudge:
    """Asks an LLM whether a premise entails a hypothesis; scores are 1.0 or 0.0.

        judge = LLMJudge(load_llm("openai:gpt-4o-mini"))
        judge.score_batch([("Ada wrote code.", "Ada programmed")])   # [1.0]

    A reply that fails even after the LLM layer's repair (under on_error="skip-and-record")
    scores 0.0 and is listed in `failures`, which reports show.
    """

    name = "llm"
    threshold = 0.5

    def __init__(self, llm: LLM, max_tokens: int = 32) -> None:
        self.llm = llm
        self.params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
        self.label = f"LLM judge ({llm.name}, prompt {PROMPT_VERSION})"
        self.failures: list[str] = []

    def score(self, premise: str, hypothesis: str) -> float:
        """1.0 if the model says the premise entails the hypothesis, else 0.0."""
        return self.score_batch([(premise, hypothesis)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One verdict per pair, from a single `generate` call."""
        requests = [LLMRequest.from_prompt(
            _PROMPT.format(premise=premise, hypothesis=hypothesis),
            response_model=EntailmentVerdict, params=self.params, key=f"entailment-{i}")
            for i, (premise, hypothesis) in enumerate(pairs)]
        scores = []
        for response in self.llm.generate(requests):
            if response.parsed is None:
                self.failures.append(f"{response.key}: {response.error}")
                scores.append(0.0)
            else:
                scores.append(1.0 if response.parsed.entailed else 0.0)
        return scores
