"""Text normalisation and token overlap, as the SQuAD-style metrics define them.

    normalize_text("The Beatles!")          # "beatles"
    token_f1("Ada Lovelace", "Lovelace")    # 0.666...
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation + "‘’“”–—"})


def normalize_text(text: str) -> str:
    """Casefolded, NFKC, punctuation and English articles removed, white space collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    """The normalised tokens of `text`."""
    return normalize_text(text).split()


def token_f1(prediction: str, reference: str) -> float:
    """Token-level F1 between two texts after normalisation; 1.0 when both are empty."""
    predicted, gold = tokens(prediction), tokens(reference)
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_containment(container: str, contained: str) -> float:
    """Share of `contained`'s tokens (with multiplicity) that also occur in `container`."""
    inner = tokens(contained)
    if not inner:
        return 1.0
    overlap = Counter(tokens(container)) & Counter(inner)
    return sum(overlap.values()) / len(inner)
