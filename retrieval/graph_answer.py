"""Answering from the graph with no LLM: the best-supported entity or value, or an abstention.

For an "entity" question (who, when, where, which X, how many) the candidates are the entities
of the retrieved passages (their facts and mentions), their titles and the dates and numbers
in their text. A question that names a chain of roles ("the spouse of the director of film
X") is walked first (`roles.walk_roles`): from X's passage to the director's, whose likely
spouse and whose passage's facts are the answer's candidates. Each candidate is scored by a
linear model over `FEATURES`:
- type: whether its entity type is one the question's wording asks for (`question_shape`);
- facts, seed_fact, predicate: how similar the facts naming it are to the question (fact
  vectors, the fact's predicate words), above all a fact joining it to an entity the question
  names;
- sentence, window: the share of the question's words around its mentions;
- support, passages, title: the retrieved passages naming it, and whether it is one's title;
- anchor, hops: how near the question's entities it is in the passages and the entity graph;
- bridge, role, life, bridge_life: it is in the passage the role chain leads to, holds the
  last role, or is the birth or death date or place the question asks of the subject;
- echo, generic, value, early: how much of it the question says, a CONCEPT, a bare number,
  how early in its passage.
The weights were fitted on the tuning halves of 2Wiki, MuSiQue and HotpotQA
(`benchmarks/graph_answer.py --fit`). The confidence is a second logistic model, over the
best score, its margin and its softmax share among the best rivals, fitted on the same halves;
below `threshold` the answerer abstains ("not found in the graph").

"Which of two" questions pick one of the options by the dates of their passages (older,
earlier, lived longer, ...); yes/no questions compare what the passages of the two named
things say (same country, both American). Both are reported with the evidence used.

    answerer = GraphAnswerer(RetrievalContext(store)); answerer.warm_up()
    found = answerer.answer("Who did Ada Lovelace marry?", retriever.retrieve(question, 5))
    found.answer, found.confidence, found.path     # None when it abstained
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .comparisons import answer_choice, answer_yes_no
from .corpus import RetrievalContext
from .graph import UNREACHED, question_seeds, shared_graph
from .linking import EntityLinker, matching_key
from .protocol import AnswerResult, RetrievedChunk
from .questions import DATE, NUMBER, PERSON, YEAR, QuestionShape, content_words, question_shape
from .roles import life_role, role_chain, walk_roles
from .vectors import aligned_matrix

ABSTAINED = "not found in the graph"
FEATURES = ("type", "facts", "anchor", "sentence", "support", "title", "hops", "echo",
            "generic", "value", "early", "life", "bridge", "window", "passages", "predicate",
            "role", "bridge_life", "seed_fact", "title_top")
# Fitted by benchmarks/graph_answer.py --fit on the tuning halves (listwise logistic
# regression over each question's candidates, L2).
WEIGHTS = {"type": 3.149, "facts": -0.238, "anchor": -0.329, "sentence": 0.717,
           "support": -0.667, "title": 3.009, "hops": -0.371, "echo": 0.286, "generic": -1.033,
           "value": 0.431, "early": -0.089, "life": 0.285, "bridge": 2.671, "window": 2.133,
           "passages": 1.449, "predicate": 0.997, "role": 2.116, "bridge_life": 2.548,
           "seed_fact": 1.489, "title_top": -0.257}
CALIBRATION = {"bias": -3.442, "best": 0.058, "margin": -0.159, "share": 3.621}
THRESHOLD = 0.08
"""Confidence below which an entity answer abstains (tuned so answers are right >= 40%)."""
SEED_LIMIT = 5
RIVALS = 10
"""Candidates the best one's confidence is weighed against."""
WINDOW = 80
"""Characters either side of a candidate's mention that count as its context."""
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w.]*\d)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_GENERIC_TYPES = frozenset({"CONCEPT", "ENTITY"})


@dataclass
class Candidate:
    """One possible answer gathered from the retrieved passages."""

    name: str
    entities: set[int] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    passages: dict[int, int] = field(default_factory=dict)
    """Rank (0-based) → chunk index of each retrieved passage that names it."""
    features: dict[str, float] = field(default_factory=dict)
    facts: list[tuple[float, int]] = field(default_factory=list)
    score: float = 0.0


class GraphAnswerer:
    """Answers from the entities and values of retrieved passages and the graph around them.

        answerer = GraphAnswerer(retriever.context)      # share the retriever's snapshot
        answerer.warm_up()
        answerer.answer(question, chunks)                # an AnswerResult
        answerer([(question, chunks), ...])              # a batch, for `kgx eval qa`
    """

    name = "graph"

    def __init__(self, context: RetrievalContext, *, threshold: float = THRESHOLD,
                 weights: dict[str, float] | None = None,
                 calibration: dict[str, float] | None = None) -> None:
        self.context = context
        self.threshold = threshold
        self.weights = dict(weights or WEIGHTS)
        self.calibration = dict(calibration or CALIBRATION)
        self._ready = False

    def warm_up(self) -> None:
        """Read the snapshot, the fact vectors and the entity graph (shared with retrievers)."""
        if self._ready:
            return
        corpus = self.corpus = self.context.corpus()
        self.graph, self.linker = shared_graph(self.context)
        self.fact_vectors = aligned_matrix(self.context.matrix("facts"), corpus.fact_index)
        chunk_entities: list[set[int]] = [set() for _ in corpus.chunks]
        for chunk, entity in corpus.mentions:
            chunk_entities[chunk].add(entity)
        for fact in corpus.facts:
            chunk_entities[fact.chunk].update(fact.entities)
        self.chunk_entities = chunk_entities
        self.titles: dict[str, list[int]] = {}
        for i, chunk in enumerate(corpus.chunks):
            if chunk.title:
                self.titles.setdefault(matching_key(chunk.title), []).append(i)
        self.title_keys = list(self.titles)
        self.title_linker = EntityLinker(self.title_keys)
        self._ready = True

    def question_titles(self, question: str, ranked: list[tuple[int, int]]) -> list[int]:
        """The passages whose titles the question names, longest name first (a retrieved
        passage of that title before the others)."""
        retrieved = [chunk for _, chunk in ranked]
        out = []
        for linked in sorted(self.title_linker.link(question, limit=8),
                             key=lambda e: (-len(e.mention), -e.score, e.entity)):
            chunks = self.titles[self.title_keys[linked.entity]]
            out.append(next((c for c in retrieved if c in chunks), chunks[0]))
        return list(dict.fromkeys(out))

    def __call__(self, items: Sequence[tuple[str, Sequence[RetrievedChunk]]]
                 ) -> list[AnswerResult]:
        return [self.answer(question, chunks) for question, chunks in items]

    def answer(self, question: str, chunks: Sequence[RetrievedChunk]) -> AnswerResult:
        """The answer to `question` from `chunks` (best first) and the graph around them."""
        self.warm_up()
        shape = question_shape(question)
        ranked = [(rank, self.corpus.chunk_index[c.chunk_id])
                  for rank, c in enumerate(chunks) if c.chunk_id in self.corpus.chunk_index]
        if shape.kind == "choice":
            return answer_choice(self, question, shape, ranked)
        if shape.kind == "yes_no":
            return answer_yes_no(self, question, shape, ranked)
        return self.answer_entity(question, shape, ranked)

    # -- entity questions -------------------------------------------------------------------

    def answer_entity(self, question: str, shape: QuestionShape,
                      ranked: list[tuple[int, int]]) -> AnswerResult:
        candidates = self.candidates(question, shape, ranked)
        if not candidates:
            return AnswerResult(question=question, answer=None, confidence=0.0, kind=shape.kind,
                               reason="no entity or value in the retrieved passages")
        best = max(candidates, key=lambda c: (c.score, c.name))
        confidence = self.confidence([c.score for c in candidates])
        facts = [self.corpus.facts[f].text for _, f in sorted(best.facts, reverse=True)[:3]]
        passages = sorted(rank + 1 for rank in best.passages)
        path = self._path(question, best)
        answered = confidence >= self.threshold
        reason = (f"the best of {len(candidates)} candidates from {len(ranked)} passages "
                  f"({_why(best)})")
        if not answered:
            reason = f"abstained: confidence {confidence:.2f} is below {self.threshold:.2f}; " \
                     + reason
        return AnswerResult(question=question, answer=best.name if answered else None,
                           confidence=round(confidence, 4), kind=shape.kind,
                           best_guess=best.name, facts=facts, path=path, passages=passages,
                           reason=reason)

    def candidates(self, question: str, shape: QuestionShape,
                   ranked: list[tuple[int, int]]) -> list[Candidate]:
        """Every candidate of the passages, with features and score (see the module doc)."""
        vector = self.context.encode(question)
        bridge, holders = walk_roles(self, question, ranked,
                                     person_answer=bool(shape.expected & PERSON))
        if bridge is not None and bridge not in {chunk for _, chunk in ranked}:
            ranked = [*ranked, (len(ranked), bridge)]
        words = content_words(question)
        key_question = f" {matching_key(question)} "
        seeds, distances = self.reach(question)
        seed_titles = {self.corpus.entity_names[s].casefold() for s in seeds}
        named = self.question_titles(question, ranked)[:2]
        # Birth and death dates count only in the passages of what the question is about.
        # (With a role chain that could not be walked, the subject's own dates are the wrong
        # person's: none count.)
        subjects = ({bridge} if bridge is not None
                    else set() if role_chain(question) else set(named))
        found: dict[str, Candidate] = {}
        subjects_words = [set(matching_key(self.corpus.chunks[c].title or "").split())
                          for c in named]

        def add(name: str, rank: int, chunk: int, types: set[str], entity: int | None) -> None:
            key = matching_key(name)
            if not key or f" {key} " in key_question or any(
                    words and words <= set(key.split()) for words in subjects_words):
                return  # the question says it, or it is what the question is about
            candidate = found.setdefault(key, Candidate(name))
            candidate.types |= types
            candidate.passages.setdefault(rank, chunk)
            if entity is not None:
                candidate.entities.add(entity)

        for rank, chunk in ranked:
            for entity in self.chunk_entities[chunk]:
                add(self.corpus.entity_names[entity], rank, chunk,
                    {self._type(entity)}, entity)
            title = self.corpus.chunks[chunk].title
            if title:
                add(title, rank, chunk, self._title_types(title), None)
            text = self.corpus.chunks[chunk].text
            if shape.expected & DATE or shape.wh in ("", "what", "which"):
                dated = " ".join(self.corpus.entity_names[e] for e in self.chunk_entities[chunk]
                                 if self._type(e) == "DATE")
                for year in set(YEAR.findall(text)) - set(YEAR.findall(dated)):
                    add(year, rank, chunk, {"DATE"}, None)
            if shape.expected & NUMBER:
                for number in set(_NUMBER.findall(text)):
                    add(number, rank, chunk, {"CARDINAL"}, None)
        if shape.expected and shape.expected <= DATE | NUMBER:
            # "when", "what year", "how many": the wording is reliable; keep the values.
            typed = {k: c for k, c in found.items() if c.types & shape.expected}
            found = typed or found
        elif not shape.expected and shape.wh.startswith(("which ", "what ")):
            # "which device": a thing, not a date or a count.
            found = {k: c for k, c in found.items()
                     if not c.types <= {"DATE", "CARDINAL", "TIME", "NORP"}} or found
        for candidate in found.values():
            self._features(candidate, shape, vector, words, question, seeds, distances,
                           seed_titles, subjects)
            candidate.features["bridge"] = float(bridge in candidate.passages.values())
            candidate.features["role"] = float(bool(holders & candidate.entities))
            candidate.features["bridge_life"] = candidate.features["bridge"] * \
                candidate.features["life"]
            candidate.score = sum(
                self.weights.get(name, 0.0) * value
                for name, value in candidate.features.items())
        return list(found.values())

    def confidence(self, scores: list[float]) -> float:
        """The probability that the best of `scores` is right: a logistic model over
        `confidence_signals` (`CALIBRATION`, fitted on the tuning halves)."""
        ranked = sorted(scores, reverse=True)
        signals = confidence_signals(ranked)
        z = self.calibration["bias"] + sum(self.calibration[k] * v for k, v in signals.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one answerer per store, bounded
    def reach(self, question: str) -> tuple[frozenset[int], np.ndarray | None]:
        """The entities the question names (linked by name) and every entity's hops from them
        (up to 2; None without seeds), computed once per question."""
        seeds = frozenset(e.entity for e in question_seeds(
            self.linker, self.corpus, question, self.graph.hubs, SEED_LIMIT))
        return seeds, self.graph.hop_distances(sorted(seeds), 2) if seeds else None

    def _features(self, c: Candidate, shape: QuestionShape, vector: np.ndarray,
                  words: set[str], question: str, seeds: frozenset[int], distances,
                  seed_titles: set[str], subjects: set[int]) -> None:
        facts = [f for chunk in set(c.passages.values()) for f in self.corpus.chunk_facts[chunk]
                 if c.entities.intersection(self.corpus.facts[f].entities)]
        sims = self.fact_vectors[facts] @ vector if facts else np.zeros(0)
        c.facts = [(float(s), f) for s, f in zip(sims, facts, strict=True)]
        seed_facts = [sim for sim, f in c.facts if seeds.intersection(self.corpus.facts[f].entities)
                      and not c.entities <= seeds]
        anchored = bool(seed_facts) or any(
            (self.corpus.chunks[chunk].title or "").casefold() in seed_titles
            for chunk in c.passages.values())
        hop = 0.0
        if distances is not None and c.entities:
            nearest = min(int(distances[e]) for e in c.entities)
            hop = {1: 1.0, 2: 0.5}.get(nearest, 0.0) if nearest != UNREACHED else 0.0
        name_words = content_words(c.name)
        typed = bool(c.types & shape.expected) if shape.expected else False
        first = min(c.passages)
        text = self.corpus.chunks[c.passages[first]].text
        at = text.casefold().find(c.name.casefold())
        c.features = {
            "type": 1.0 if typed else (0.5 if not shape.expected else 0.0),
            "facts": float(sims.max()) if len(sims) else 0.0,
            "anchor": 1.0 if anchored else 0.0,
            "sentence": max((self._sentence_overlap(chunk, c.name, words - name_words)
                             for chunk in c.passages.values()), default=0.0),
            "support": min(1.0, sum(1.0 / (rank + 1) for rank in c.passages)),
            "title": max((1.0 / (rank + 1) for rank, chunk in c.passages.items()
                          if matching_key(self.corpus.chunks[chunk].title or "")
                          == matching_key(c.name)), default=0.0),
            "title_top": float(0 in c.passages and matching_key(
                self.corpus.chunks[c.passages[0]].title or "") == matching_key(c.name)),
            "hops": hop,
            "echo": len(name_words & words) / len(name_words) if name_words else 0.0,
            "generic": 1.0 if c.types and c.types <= _GENERIC_TYPES else 0.0,
            "value": 1.0 if c.types <= {"DATE", "CARDINAL"} and not c.entities else 0.0,
            "early": 1.0 - at / len(text) if at >= 0 and text else 0.0,
            "life": max((life_role(question, c.name, self.corpus.chunks[chunk].text)
                         for chunk in c.passages.values() if chunk in subjects), default=0.0),
            "window": max((self._window_overlap(chunk, c.name, words - name_words)
                           for chunk in c.passages.values()), default=0.0),
            "passages": len(c.passages) / 5.0,
            "predicate": max((len(self._predicate_words(f) & words) / max(1, len(words))
                              for f in facts), default=0.0),
            "seed_fact": max(seed_facts, default=0.0),
        }

    def _sentence_overlap(self, chunk: int, name: str, words: set[str]) -> float:
        """The largest share of `words` in one sentence of `chunk` that names `name`."""
        if not words:
            return 0.0
        folded = name.casefold()
        best = 0.0
        for sentence, sentence_words in self._sentences(chunk):
            if folded in sentence:
                best = max(best, len(words & sentence_words) / len(words))
        return best

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - one answerer per store, bounded
    def _predicate_words(self, fact: int) -> frozenset[str]:
        """The words of a fact that are not its entities' names: its predicate."""
        found = self.corpus.facts[fact]
        names = set()
        for entity in found.entities:
            names |= content_words(self.corpus.entity_names[entity])
        return frozenset(content_words(found.text) - names)

    def _window_overlap(self, chunk: int, name: str, words: set[str]) -> float:
        """The share of `words` within WINDOW characters of a mention of `name` in `chunk`."""
        if not words:
            return 0.0
        text = self.corpus.chunks[chunk].text
        at = text.casefold().find(name.casefold())
        if at < 0:
            return 0.0
        near = content_words(text[max(0, at - WINDOW):at + len(name) + WINDOW])
        return len(words & near) / len(words)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one answerer per store, bounded
    def _sentences(self, chunk: int) -> list[tuple[str, set[str]]]:
        chunk_ = self.corpus.chunks[chunk]
        text = chunk_.text
        sentences = [s for s in _SENTENCE.split(text) if s.strip()]
        # The title is the subject of a passage's sentences that say "he" or "it".
        title = content_words(chunk_.title or "")
        return [(s.casefold(), content_words(s) | title) for s in sentences]

    def _type(self, entity: int) -> str:
        types = self.corpus.entity_types
        return types[entity] if entity < len(types) else "ENTITY"

    def _title_types(self, title: str) -> set[str]:
        entities = self.linker.exact.get(matching_key(title), [])
        return {self._type(e) for e in entities} or {"TITLE"}

    def _path(self, question: str, best: Candidate) -> str | None:
        _, distances = self.reach(question)
        if distances is None or not best.entities:
            return None
        reachable = [e for e in best.entities if 0 < distances[e] != UNREACHED]
        if not reachable:
            return None
        target = min(reachable, key=lambda e: (distances[e], e))
        return self.graph.path(distances, target, self.corpus.entity_names)


def _why(candidate: Candidate) -> str:
    shown = [f"{name} {value:.2f}" for name, value in candidate.features.items() if value]
    return ", ".join(shown) or "no feature"


def confidence_signals(ranked: list[float]) -> dict[str, float]:
    """What the confidence is read from, for scores sorted best first: the best score, its
    margin over the runner-up and its softmax share among the best RIVALS (so that long
    passages with many candidates do not dilute it)."""
    best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else best - 5.0
    share = 1.0 / sum(math.exp(max(-50.0, s - best)) for s in ranked[:RIVALS])
    return {"best": best, "margin": min(5.0, best - runner_up), "share": share}
