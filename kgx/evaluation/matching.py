"""Pure matching of predicted against gold entities or triples, and micro-averaged P/R/F1.

Four ways to call two items the same, from strictest to loosest:
- exact: equal strings (triples: equal parts);
- normalized: equal after `normalize_text` (casefold, punctuation and articles dropped);
- fuzzy: rapidfuzz token_sort_ratio ≥ 90 (triples: on "subject predicate object");
- embedding: MiniLM cosine ≥ 0.85 (triples: on "subject predicate object").

Every mode matches one-to-one: a gold item is used once, fuzzy and embedding pairs greedily from
the best score down.

    count_matches(["The Beatles"], ["beatles"], "normalized")       # 1
    prf = micro_prf([(matched, len(pred), len(gold)) for each document])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from kgx.embeddings import SentenceEncoder, triple_text
from kgx.errors import ConfigError
from kgx.evaluation.normalization import normalize_text

if TYPE_CHECKING:
    import numpy as np

MatchMode = Literal["exact", "normalized", "fuzzy", "embedding"]
MATCH_MODES: tuple[MatchMode, ...] = ("exact", "normalized", "fuzzy", "embedding")
FUZZY_THRESHOLD = 90.0
EMBEDDING_THRESHOLD = 0.85
Triple = tuple[str, str, str]


class PRF(BaseModel):
    """Precision, recall and F1 from matched, predicted and gold counts."""

    matched: int
    predicted: int
    gold: int
    precision: float
    recall: float
    f1: float

    @classmethod
    def from_counts(cls, matched: int, predicted: int, gold: int) -> PRF:
        """Scores of `matched` items out of `predicted` and `gold`; 0 where undefined."""
        precision = matched / predicted if predicted else 0.0
        recall = matched / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(matched=matched, predicted=predicted, gold=gold, precision=precision,
                   recall=recall, f1=f1)


def micro_prf(counts: Iterable[tuple[int, int, int]]) -> PRF:
    """P/R/F1 of summed (matched, predicted, gold) counts, e.g. one triple per document."""
    totals = [sum(column) for column in zip(*counts, strict=True)] or [0, 0, 0]
    return PRF.from_counts(*totals)


def count_matches(predicted: Sequence[str], gold: Sequence[str], mode: MatchMode, *,
                  encoder: SentenceEncoder | None = None,
                  vectors: Mapping[str, np.ndarray] | None = None) -> int:
    """How many predicted strings match a distinct gold string under `mode`.

    For "embedding", `vectors` (text → unit vector) saves re-encoding texts seen before.
    """
    if mode == "exact":
        return _multiset_overlap(predicted, gold)
    if mode == "normalized":
        return _multiset_overlap([normalize_text(p) for p in predicted],
                                 [normalize_text(g) for g in gold])
    if mode == "fuzzy":
        return len(greedy_one_to_one(fuzzy_scores(predicted, gold), FUZZY_THRESHOLD))
    if mode == "embedding":
        scores = embedding_scores(predicted, gold, encoder=encoder, vectors=vectors)
        return len(greedy_one_to_one(scores, EMBEDDING_THRESHOLD))
    raise ConfigError(f"Unknown match mode {mode!r}; use one of: {', '.join(MATCH_MODES)}.")


def count_triple_matches(predicted: Sequence[Triple], gold: Sequence[Triple], mode: MatchMode,
                         *, encoder: SentenceEncoder | None = None,
                         vectors: Mapping[str, np.ndarray] | None = None) -> int:
    """`count_matches` for triples: part by part for exact/normalized, as text otherwise."""
    if mode in ("exact", "normalized"):
        def key(triple: Triple) -> str:
            parts = triple if mode == "exact" else [normalize_text(p) for p in triple]
            return "\x1f".join(parts)

        return _multiset_overlap([key(t) for t in predicted], [key(t) for t in gold])
    return count_matches([triple_text(t) for t in predicted], [triple_text(t) for t in gold],
                         mode, encoder=encoder, vectors=vectors)


def greedy_one_to_one(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs scoring ≥ `threshold`, best first, each row and column used once."""
    import numpy as np

    rows, columns = np.nonzero(scores >= threshold)
    order = sorted(zip(rows.tolist(), columns.tolist(), strict=True),
                   key=lambda rc: (-float(scores[rc]), rc))
    used_rows: set[int] = set()
    used_columns: set[int] = set()
    pairs = []
    for row, column in order:
        if row not in used_rows and column not in used_columns:
            used_rows.add(row)
            used_columns.add(column)
            pairs.append((row, column))
    return pairs


def fuzzy_scores(predicted: Sequence[str], gold: Sequence[str]) -> np.ndarray:
    """rapidfuzz token_sort_ratio (0..100, casefolded, punctuation ignored) of every pair."""
    import numpy as np
    from rapidfuzz import fuzz, process, utils

    if not predicted or not gold:
        return np.zeros((len(predicted), len(gold)))
    return process.cdist(predicted, gold, scorer=fuzz.token_sort_ratio,
                         processor=utils.default_process)


def embedding_scores(predicted: Sequence[str], gold: Sequence[str], *,
                     encoder: SentenceEncoder | None = None,
                     vectors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Cosine of every (predicted, gold) pair under MiniLM."""
    import numpy as np

    from kgx.embeddings import cosine_matrix, encode_unique, shared_encoder

    if not predicted or not gold:
        return np.zeros((len(predicted), len(gold)))
    known = vectors or {}
    missing = [t for t in (*predicted, *gold) if t not in known]
    fresh = encode_unique(encoder or shared_encoder(), missing) if missing else {}

    def vector(text: str) -> np.ndarray:
        return fresh[text] if text in fresh else known[text]

    return cosine_matrix(np.stack([vector(p) for p in predicted]),
                         np.stack([vector(g) for g in gold]))


def _multiset_overlap(predicted: Sequence[str], gold: Sequence[str]) -> int:
    return sum((Counter(predicted) & Counter(gold)).values())
