"""Entailment scorers for the APS and MINE metrics: one protocol, an LLM judge and two fallbacks.

    scorer = make_scorer("lexical")
    scorer.score("Ada Lovelace wrote the first program.", "Ada wrote a program")  # 1.0
    scorer.label        # says in reports that this is a lexical fallback, not NLI

The fallbacks are cheap and deterministic but are not NLI: they reward overlap, not entailment.
`LLMJudge` (in `kgx.evaluation.llm_judge`) asks a real model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from kgx.embeddings import SentenceEncoder, cosine_matrix, encode_unique
from kgx.errors import ConfigError
from kgx.evaluation.normalization import token_containment
from kgx.llm.protocol import RecordsFailures

if TYPE_CHECKING:
    from kgx.llm.protocol import LLM

JudgeKind = Literal["embedding", "lexical", "llm"]
JUDGE_KINDS = ("embedding", "lexical", "llm")
Pair = tuple[str, str]


@runtime_checkable
class EntailmentScorer(Protocol):
    """Scores how far `premise` entails `hypothesis`, in [0, 1]."""

    name: str
    label: str
    """What the scores are, for report tables ("lexical fallback, not NLI")."""
    threshold: float
    """The score from which a pair counts as entailed."""

    def score(self, premise: str, hypothesis: str) -> float:
        """Entailment score of one pair."""

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Scores of many (premise, hypothesis) pairs, in order, in as few calls as possible."""


class LexicalEntailment:
    """Token containment: the share of the hypothesis's tokens found in the premise.

        LexicalEntailment().score("The Beatles sang Help.", "Beatles sang")   # 1.0
    """

    name = "lexical"
    label = "lexical fallback (token containment), not NLI"

    def __init__(self, threshold: float = 0.75) -> None:
        self.threshold = threshold

    def score(self, premise: str, hypothesis: str) -> float:
        """Share of the hypothesis's normalised tokens present in the premise."""
        return token_containment(premise, hypothesis)

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """`score` of every pair."""
        return [self.score(premise, hypothesis) for premise, hypothesis in pairs]


class EmbeddingEntailment:
    """Cosine of MiniLM embeddings; a premise of several lines scores its best line.

        EmbeddingEntailment().score("Ada wrote code.\\nAda was born in 1815.", "Ada was born 1815")
    """

    name = "embedding"
    label = "embedding fallback (all-MiniLM-L6-v2 cosine), not NLI"

    def __init__(self, encoder: SentenceEncoder | None = None, threshold: float = 0.8) -> None:
        self.threshold = threshold
        self._encoder = encoder

    def score(self, premise: str, hypothesis: str) -> float:
        """Best cosine between the hypothesis and any line of the premise."""
        return self.score_batch([(premise, hypothesis)])[0]

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Scores of all pairs; every distinct text is embedded once."""
        from kgx.embeddings import shared_encoder

        segments = [_lines(premise) for premise, _ in pairs]
        texts = [t for lines in segments for t in lines] + [h for _, h in pairs]
        vectors = encode_unique(self._encoder or shared_encoder(), texts)
        scores = []
        for lines, (_, hypothesis) in zip(segments, pairs, strict=True):
            if not lines:
                scores.append(0.0)
                continue
            premise_vectors = _stack([vectors[line] for line in lines])
            scores.append(float(cosine_matrix(premise_vectors, _stack([vectors[hypothesis]]))
                                .max()))
        return scores


def make_scorer(kind: str, llm: LLM | None = None, encoder: SentenceEncoder | None = None,
                threshold: float | None = None) -> EntailmentScorer:
    """The scorer a `--judge` value names ("llm" needs `llm`); `threshold` overrides its own."""
    scorer: EntailmentScorer
    if kind == "lexical":
        scorer = LexicalEntailment()
    elif kind == "embedding":
        scorer = EmbeddingEntailment(encoder)
    elif kind == "llm":
        if llm is None:
            raise ConfigError("--judge llm needs a model: pass --llm SPEC, e.g. "
                              "--llm openai:gpt-4o-mini.")
        from kgx.evaluation.llm_judge import LLMJudge

        scorer = LLMJudge(llm)
    else:
        raise ConfigError(f"Unknown judge {kind!r}; use one of: {', '.join(JUDGE_KINDS)}.")
    if threshold is not None:
        scorer.threshold = threshold
    return scorer


def recorded_failures(scorer: EntailmentScorer) -> int:
    """How many judge replies a scorer skipped and recorded (only the LLM judge has any)."""
    return len(scorer.failures) if isinstance(scorer, RecordsFailures) else 0


def _lines(premise: str) -> list[str]:
    return [line.strip() for line in premise.splitlines() if line.strip()]


def _stack(vectors: list):
    import numpy as np

    return np.stack(vectors)
