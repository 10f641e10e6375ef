"""Link a question to the graph's entities by name: exact n-grams first, then fuzzy spans.

Names and questions are compared as matching keys (`kgx.ids.normalize_name`, accents folded), so
"the founder of Les Films du Losange" finds the entity "Les Films Du Losange". Spans no exact
name covers are compared with rapidfuzz against the entities sharing one of their rarer words.

    linker = EntityLinker(["Éric Rohmer", "Les Films du Losange"])
    [e.name for e in linker.link("Where did the founder of Les Films du Losange work?")]
    # ['Les Films du Losange']
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from kgx.ids import normalize_name

_STOPWORD_TEXT = (
    "a an the of in on at to for from by with and or not is was were are be been being has have "
    "had do does did who whom whose what which where when why how that this these those as it "
    "its his her hers their they them he she him there than then both same either any many much "
    "more most other film movie born died name called")
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def matching_key(text: str) -> str:
    """The form names and questions are compared in: normalised, accents folded."""
    decomposed = unicodedata.normalize("NFKD", normalize_name(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class LinkedEntity:
    """An entity the question names, with the span that named it and a score in [0, 1]."""

    entity: int
    name: str
    mention: str
    score: float


class EntityLinker:
    """Finds the entities a question names among `names` (and each entity's `aliases`).

        linker = EntityLinker(corpus.entity_names, corpus.entity_aliases)
        [e.name for e in linker.link("Who founded Les Films du Losange?")]
    """

    def __init__(self, names: Sequence[str], aliases: Sequence[Sequence[str]] = (), *,
                 threshold: float = 88.0, max_ngram: int = 6, max_candidates: int = 300,
                 max_word_share: float = 0.01) -> None:
        self.names = list(names)
        self.threshold = threshold
        self.max_ngram = max_ngram
        self.max_candidates = max_candidates
        self.exact: dict[str, list[int]] = {}
        self.words: dict[str, list[int]] = {}
        keys: dict[int, set[str]] = {}
        for entity, name in enumerate(self.names):
            extra = aliases[entity] if entity < len(aliases) else ()
            for key in {matching_key(n) for n in (name, *extra)} - {""}:
                keys.setdefault(entity, set()).add(key)
                self.exact.setdefault(key, []).append(entity)
                for word in set(key.split()) - STOPWORDS:
                    self.words.setdefault(word, []).append(entity)
        self.keys = {entity: sorted(found) for entity, found in keys.items()}
        # Words naming too many entities ("john", "city") would make every name a candidate.
        self.max_word_entities = max(50, int(max_word_share * len(self.names)))

    def link(self, question: str, limit: int = 10) -> list[LinkedEntity]:
        """The entities `question` names, best first: exact names score 1, fuzzy ones less."""
        words = matching_key(question).split()
        found: dict[int, LinkedEntity] = {}
        covered = self._exact(words, found)
        self._fuzzy(words, covered, found)
        ranked = sorted(found.values(), key=lambda e: (-e.score, -len(e.mention), e.entity))
        return ranked[:limit]

    def _exact(self, words: list[str], found: dict[int, LinkedEntity]) -> list[bool]:
        """Longest names first, each word in at most one name; returns the covered words."""
        covered = [False] * len(words)
        for size in range(min(self.max_ngram, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                span = words[start:start + size]
                if any(covered[start:start + size]) or all(w in STOPWORDS for w in span):
                    continue
                key = " ".join(span)
                for entity in self.exact.get(key, ()):
                    found.setdefault(entity, LinkedEntity(entity, self.names[entity], key, 1.0))
                if key in self.exact:
                    covered[start:start + size] = [True] * size
        return covered

    def _fuzzy(self, words: list[str], covered: list[bool], found: dict[int, LinkedEntity]) -> None:
        """Names close to a span of uncovered words that shares one of their rarer words."""
        from rapidfuzz import fuzz, process

        free = [w for w, done in zip(words, covered, strict=True) if not done]
        candidates = self._candidates([w for w in free if w not in STOPWORDS and len(w) > 2])
        if not candidates:
            return
        spans = {size: [" ".join(free[i:i + size]) for i in range(len(free) - size + 1)]
                 for size in range(1, min(self.max_ngram + 1, len(free)) + 1)}
        for entity in candidates:
            for key in self.keys[entity]:
                size = len(key.split())
                pool = [s for n in (size - 1, size, size + 1) for s in spans.get(n, ())]
                best = process.extractOne(key, pool, scorer=fuzz.ratio,
                                          score_cutoff=self.threshold)
                if best and best[1] / 100 > getattr(found.get(entity), "score", 0.0):
                    found[entity] = LinkedEntity(entity, self.names[entity], best[0], best[1] / 100)

    def _candidates(self, words: list[str]) -> list[int]:
        """Entities sharing a word with the question, rarest words first, at most a few hundred."""
        lists = sorted((self.words[w] for w in set(words) if w in self.words), key=len)
        out: dict[int, None] = {}
        for entities in lists:
            if len(entities) > self.max_word_entities or len(out) >= self.max_candidates:
                break
            out.update(dict.fromkeys(entities))
        return list(out)[:self.max_candidates]
