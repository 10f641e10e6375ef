"""Candidate search over entity token sequences with a causal LM (BertNet's step 3).

Entities are filled slot by slot, in the order the heaviest prompt names them. An entity grows
token by token, depth first, most likely token first. Each step asks every prompt that can read
the slot (nothing unfilled before it) for its next-token distribution and averages the
log-probs with the prompt weights. An entity ends when the prompts' text after the slot is
likely next. A branch is pruned once its running minimum log-prob falls below the score of the
current n-th best candidate.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kgx.ids import normalize_name

from .relation import SLOT, Relation, slots_of
from .scoring import LEAD

STOPWORDS = frozenset("""a an the this that these those it its he she they them his her their
i you we me my our your is are was were be been being am do does did has have had of in on at
to for from by with and or but not no yes so as if then than there here what which who whom
whose when where why how all any some each every other such one ones thing things something
anything nothing someone people person way kind lot lots""".split())  # noqa: SIM905


_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass
class SearchStats:
    """How the search went: next-token calls, branches considered, and how many were pruned."""

    expansions: int = 0
    branches: int = 0
    pruned: int = 0
    candidates: int = 0

    @property
    def pruned_share(self) -> float:
        return self.pruned / self.branches if self.branches else 0.0


@dataclass(frozen=True)
class _View:
    prefix: str
    following: str
    weight: float


@dataclass
class CandidateSearch:
    """Depth-first search for the `top_n` best entity tuples of a relation."""

    llm: object
    relation: Relation
    weighted: Sequence[tuple[str, float]]
    top_n: int = 100
    k: int = 10
    max_entity_tokens: int = 3
    max_expansions: int = 2000
    max_per_entity: int = 3
    """Tuples kept per first entity: without a cap, depth-first search spends its whole budget
    completing the first entity it finds with every possible partner."""
    stats: SearchStats = field(default_factory=SearchStats)

    def __post_init__(self) -> None:
        self.order = list(dict.fromkeys(slots_of(self.weighted[0][0])))
        words = " ".join(SLOT.sub(" ", p) for p, _ in self.weighted).lower().split()
        self._prompt_words = {w.strip(".,;:!?'\"") for w in words}
        self._found: dict[tuple[str, ...], tuple[tuple[str, ...], float]] = {}
        self._best: list[float] = []  # min-heap of the top_n scores
        self._per_entity: dict[str, int] = {}

    def run(self) -> list[tuple[tuple[str, ...], float]]:
        """The `top_n` candidate tuples with their search scores, best first."""
        self._grow({}, 0, "", 0, 0.0)
        self.stats.candidates = len(self._found)
        ranked = sorted(self._found.values(), key=lambda item: item[1], reverse=True)
        return ranked[:self.top_n]

    def _threshold(self) -> float:
        return self._best[0] if len(self._best) >= self.top_n else -math.inf

    def _grow(self, filled: dict[int, str], position: int, partial: str, length: int,
              running: float) -> None:
        if self.stats.expansions >= self.max_expansions or self._full(filled):
            return
        slot = self.order[position]
        views = self._views(filled, slot, partial)
        self.stats.expansions += 1
        tokens, end = _average(views, self.llm.next_tokens([v.prefix for v in views], self.k))
        if length:
            self._finish(filled, position, partial, min(running, end))
        if length >= self.max_entity_tokens:
            return
        for index, (token, logprob) in enumerate(tokens):
            self.stats.branches += 1
            if min(running, logprob) < self._threshold():
                self.stats.pruned += len(tokens) - index  # the rest are less likely still
                self.stats.branches += len(tokens) - index - 1
                return
            if _word_like(token, first=not length):
                self._grow(filled, position, partial + token, length + 1, min(running, logprob))

    def _finish(self, filled: dict[int, str], position: int, partial: str, score: float) -> None:
        entity = _LEADING_ARTICLE.sub("", " ".join(partial.split()))
        if score < self._threshold() or not self._usable(entity, filled):
            return
        done = {**filled, self.order[position]: entity}
        if position + 1 < len(self.order):
            self._grow(done, position + 1, "", 0, score)
            return
        entities = tuple(done[i] for i in range(len(self.order)))
        key = tuple(normalize_name(e) for e in entities)  # "Boat" and "boat" are one tuple
        if score > self._found.get(key, (entities, -math.inf))[1]:
            self._found[key] = (entities, score)
            first = done[self.order[0]]
            self._per_entity[first] = self._per_entity.get(first, 0) + 1
            heapq.heappush(self._best, score)
            if len(self._best) > self.top_n:
                heapq.heappop(self._best)

    def _full(self, filled: dict[int, str]) -> bool:
        first = filled.get(self.order[0])
        return first is not None and self._per_entity.get(first, 0) >= self.max_per_entity

    def _usable(self, entity: str, filled: dict[int, str]) -> bool:
        key = entity.lower()
        words = key.split()
        return (len(key) >= 2 and bool(words) and words[-1] not in STOPWORDS
                and words[0] not in STOPWORDS and key not in self._prompt_words
                and normalize_name(entity) not in {normalize_name(e) for e in filled.values()})

    def _views(self, filled: dict[int, str], slot: int, partial: str) -> list[_View]:
        """The prompts that can read `slot` now: their prefix up to it and the text after it."""
        views = []
        for prompt, weight in self.weighted:
            head, _, tail = prompt.partition(f"<ENT{slot}>")
            before = SLOT.sub(lambda m: filled.get(int(m.group(1)), m.group(0)), head)
            if SLOT.search(before) or weight <= 0:
                continue
            following = SLOT.split(tail)[0] or "."
            views.append(_View(LEAD + before.rstrip(" ") + partial, following, weight))
        return views


def _average(views: Sequence[_View], dists: Sequence[Sequence[tuple[str, float]]]
             ) -> tuple[list[tuple[str, float]], float]:
    """Weighted mean next-token log-probs (a token a prompt did not rank gets that prompt's
    lowest), most likely first, and the weighted log-prob that the entity ends here."""
    floors = [min((lp for _, lp in d), default=-30.0) for d in dists]
    tables = [dict(d) for d in dists]
    total = math.fsum(v.weight for v in views)
    tokens = {t for d in dists for t, _ in d}
    mean = {t: math.fsum(v.weight * table.get(t, floor) for v, table, floor in
                         zip(views, tables, floors, strict=True)) / total for t in tokens}
    end = math.fsum(v.weight * _end_logprob(v.following, d, floor)
                    for v, d, floor in zip(views, dists, floors, strict=True)) / total
    return sorted(mean.items(), key=lambda item: item[1], reverse=True), end


def _end_logprob(following: str, dist: Sequence[tuple[str, float]], floor: float) -> float:
    """Log-prob that the next token starts the prompt's text after the slot."""
    hits = [lp for token, lp in dist if token.strip() and following.startswith(token)]
    if not hits:
        return floor
    top = max(hits)
    return top + math.log(math.fsum(math.exp(lp - top) for lp in hits))


def _word_like(token: str, first: bool) -> bool:
    """Tokens an entity can be made of: with a letter or digit, no line break."""
    if "\n" in token or not any(ch.isalnum() for ch in token):
        return False
    return not first or token.strip() == token.lstrip()  # no trailing space inside a token
