"""SynthKG's KG metrics: semantic score, coverage at a threshold and token F1 against gold triples.

    scores = score_triples([("Ada", "born in", "London")], [("Ada Lovelace", "born in", "London")])
    scores.semantic_score, scores.coverage, scores.token_f1

Each gold triple is matched to the extracted triple with the highest embedding cosine; the
scores average over gold triples, so pooling the matches of many questions gives the micro
average (see `summarize`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from kgx.embeddings import SentenceEncoder, cosine_matrix, encode_unique, triple_text
from kgx.evaluation.normalization import token_f1

if TYPE_CHECKING:
    import numpy as np

Triple = tuple[str, str, str]
COVERAGE_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
DEFAULT_THRESHOLD = 0.7


class TripleMatch(BaseModel):
    """A gold triple, its best-matching extracted triple (by cosine), the cosine and token F1."""

    model_config = ConfigDict(frozen=True)

    gold: Triple
    best: Triple | None
    cosine: float
    token_f1: float


class KGScores(BaseModel):
    """The three SynthKG metrics over a set of gold triples, plus coverage at every threshold."""

    model_config = ConfigDict(frozen=True)

    gold_triples: int
    extracted_triples: int
    semantic_score: float
    threshold: float
    coverage: float
    token_f1: float
    coverage_curve: dict[str, float]
    """Coverage at 0.50, 0.55, ... 0.95, keyed by the threshold written with two decimals."""


def match_triples(gold: Sequence[Triple], extracted: Sequence[Triple],
                  vectors: Mapping[str, np.ndarray]) -> list[TripleMatch]:
    """Best extracted match of each gold triple; `vectors` maps `triple_text` to unit vectors."""
    import numpy as np

    if not extracted:
        return [TripleMatch(gold=g, best=None, cosine=0.0, token_f1=0.0) for g in gold]
    gold_vectors = np.stack([vectors[triple_text(g)] for g in gold]) if gold else np.zeros(
        (0, 384), dtype=np.float32)
    extracted_vectors = np.stack([vectors[triple_text(t)] for t in extracted])
    cosines = cosine_matrix(gold_vectors, extracted_vectors)
    matches = []
    for row, triple in zip(cosines, gold, strict=True):
        best = extracted[int(row.argmax())]
        matches.append(TripleMatch(gold=triple, best=best, cosine=float(row.max()),
                                   token_f1=token_f1(triple_text(best), triple_text(triple))))
    return matches


def summarize(matches: Sequence[TripleMatch], extracted_triples: int,
              threshold: float = DEFAULT_THRESHOLD) -> KGScores:
    """The metrics over pooled matches: every gold triple weighs the same."""
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    cosines = [m.cosine for m in matches]
    curve = {f"{t:.2f}": mean([float(c >= t) for c in cosines]) for t in COVERAGE_THRESHOLDS}
    return KGScores(gold_triples=len(matches), extracted_triples=extracted_triples,
                    semantic_score=mean(cosines), threshold=threshold,
                    coverage=mean([float(c >= threshold) for c in cosines]),
                    token_f1=mean([m.token_f1 for m in matches]), coverage_curve=curve)


def score_triples(gold: Sequence[Triple], extracted: Sequence[Triple],
                  encoder: SentenceEncoder | None = None,
                  threshold: float = DEFAULT_THRESHOLD) -> KGScores:
    """SynthKG metrics of `extracted` against `gold`, embedding both with `encoder`."""
    from kgx.embeddings import shared_encoder

    encoder = encoder or shared_encoder()
    vectors = encode_unique(encoder, [triple_text(t) for t in (*gold, *extracted)])
    return summarize(match_triples(gold, extracted, vectors), len(extracted), threshold)
