"""HippoRAG 2 retrieval: personalized PageRank over entities *and* passages, seeded from the
facts that match the question (Gutiérrez et al., 2025, "From RAG to Memory").

Offline, at warm-up, everything comes from the store's snapshot and the incremental vector
indexes (only new texts are embedded; deleted ones drop out):
- the facts (verbalised relations and propositions) are embedded, as for dense-over-facts;
- every chunk is a passage node, joined to the entities it mentions or states facts about;
- entities whose name embeddings reach `synonymy_threshold` are joined by synonymy edges
  weighted by that similarity, beyond what entity resolution already merged.

Online, for a question:
1. the `facts` facts nearest it are matched, their cosine min-max normalised over the
   `candidates` nearest facts;
2. `fact_filter="llm"` lets an LLM drop the matched facts that do not help ("recognition
   memory"); if nothing is left to seed, the ranking is dense retrieval's;
3. each matched fact's entities are seeded with its score over the number of chunks the entity
   occurs in (rare entities weigh more), the best fact naming it counting, best `entities`
   kept; `seeding="both"` (the default) adds the entities the question names, linked by name
   as for `ppr`, and `seeding="ner"` uses those alone;
4. the `passages` passages nearest the question are seeded with their dense score (min-max
   normalised over them) × `passage_weight`;
5. PageRank with restart probability 1 - `damping` runs over the entity–passage graph, by
   residual pushing from the seeds (no node off by more than `epsilon`);
6. passages rank by the mass that lands on them.

    retriever = HippoRAG2Retriever(open_store("./kgx-store"))   # no I/O until warm_up()
    retriever.retrieve("Who is the mother of the director of film X?", top_k=5)

The ablations of the paper are options: `passage_nodes=False` walks the entity graph alone and
scores a passage by the mass of its entities (HippoRAG 1), `seeding="ner"` seeds the entities
the question names instead of the matched facts', `synonymy=False` drops the synonymy edges.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from kgx.errors import ConfigError, require
from kgx.llm.prompts import PromptTemplate

from .corpus import RetrievalContext, RetrievalCorpus, check_request
from .graph import question_seeds, shared_graph
from .ppr import PATH_HOPS, RandomWalk, heaviest_path
from .protocol import RetrievedChunk
from .vectors import aligned_matrix, top_scores

SEEDINGS = ("facts", "ner", "both")
MIXES = ("linear", "rrf")
RRF_K = 60
FACT_FILTERS = ("none", "llm")
_SYNONYM_BLOCK = 2048  # entity rows compared per matrix product
_MIN_SYNONYM_CHARS = 3  # names with fewer letters or digits ("US", "1") get no synonymy edges
MAX_FACT_WORDS = 20  # a longer fact spans a sentence: fact_quality keeps it out of matching


class HippoRAG2Retriever:
    """HippoRAG 2: facts matched to the question seed a PageRank over entities and passages.

        retriever = HippoRAG2Retriever(store, passage_weight=0.05)   # no I/O yet
        [hit.external_id for hit in retriever.retrieve("Who founded X?", top_k=5)]

    The defaults were tuned on the 2WikiMultihopQA sample (see the README's tuning protocol).
    `fact_filter="llm"` needs `llm`.
    """

    name = "hipporag2"

    def __init__(self, store, *, facts: int = 3, entities: int = 5, candidates: int = 100,
                 passages: int = 50, passage_weight: float = 0.05, damping: float = 0.8,
                 synonymy_threshold: float = 0.9, synonymy_neighbours: int = 100,
                 passage_nodes: bool = True, seeding: str = "both", synonymy: bool = True,
                 fact_filter: str = "none", llm=None, epsilon: float = 1e-4,
                 dense_weight: float = 0.3, degree_norm: float = 0.0,
                 fact_quality: bool = True, mix: str = "linear", mass_power: float = 0.25,
                 context: RetrievalContext | None = None) -> None:
        if not 0 < mass_power <= 1:
            raise ConfigError(f"hipporag2 mass_power must be in (0, 1], got {mass_power}")
        if not 0 <= dense_weight <= 1 or not 0 <= degree_norm <= 1:
            raise ConfigError("hipporag2 options: dense_weight and degree_norm must be in "
                              f"[0, 1], got {dense_weight} and {degree_norm}")
        if mix not in MIXES:
            raise ConfigError(f"hipporag2 mix must be one of {MIXES}, got {mix!r}")
        if min(facts, entities, candidates, passages, synonymy_neighbours) < 1:
            raise ConfigError("hipporag2 options: facts, entities, candidates, passages and "
                              "synonymy_neighbours must be at least 1")
        if not 0 < epsilon < 1:
            raise ConfigError(f"hipporag2 epsilon must be in (0, 1), got {epsilon}")
        if not 0 < damping < 1 or passage_weight < 0 or not -1 <= synonymy_threshold <= 1:
            raise ConfigError("hipporag2 options: damping must be in (0, 1), passage_weight at "
                              "least 0 and synonymy_threshold in [-1, 1]")
        if seeding not in SEEDINGS:
            raise ConfigError(f"hipporag2 seeding must be one of {SEEDINGS}, got {seeding!r}")
        if fact_filter not in FACT_FILTERS:
            raise ConfigError(f"hipporag2 fact_filter must be one of {FACT_FILTERS}, got "
                              f"{fact_filter!r}")
        if fact_filter == "llm" and llm is None:
            raise ConfigError("hipporag2 with fact_filter='llm' needs an LLM to judge the "
                              "matched facts; pass llm=… (CLI: --llm), or use fact_filter='none'")
        self.store = store
        self.facts, self.entities = facts, entities
        self.candidates, self.passages = candidates, passages
        self.passage_weight, self.damping = passage_weight, damping
        self.synonymy_threshold, self.synonymy_neighbours = synonymy_threshold, synonymy_neighbours
        self.passage_nodes, self.seeding, self.synonymy = passage_nodes, seeding, synonymy
        self.fact_filter, self.llm = fact_filter, llm
        self.epsilon = epsilon
        self.dense_weight, self.degree_norm = dense_weight, degree_norm
        self.fact_quality, self.mix, self.mass_power = fact_quality, mix, mass_power
        self.context = context or RetrievalContext(store)
        self._ready = False

    # -- offline ------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Sync the fact, chunk and entity vectors, find the synonymy edges, build the walk."""
        if self._ready:
            return
        self.corpus = self.context.corpus()
        self.graph, self.linker = shared_graph(self.context)
        self.chunk_index = self.context.vectors("chunks")
        self.fact_index = self.context.vectors("facts")
        self.synonyms = _no_edges()
        if self.synonymy:
            self.synonyms = self.context.shared(
                ("synonyms", self.synonymy_threshold, self.synonymy_neighbours),
                lambda: synonymy_edges(self.corpus, self.context.matrix("entities"),
                                       self.synonymy_threshold, self.synonymy_neighbours))
        self.walk = self.context.shared(
            ("hipporag2_walk", self.synonymy, self.synonymy_threshold, self.synonymy_neighbours,
             self.passage_nodes),
            lambda: walk_graph(self.corpus, self.synonyms, self.passage_nodes))
        self.specificity = np.array([1.0 / max(1, len(chunks))
                                     for chunks in self.corpus.entity_chunks], dtype=np.float32)
        degree = np.asarray(self.walk.chunk_entities.sum(axis=1)).ravel()
        self.passage_degree = np.maximum(degree, 1.0).astype(np.float64)
        self.usable_facts = (self.context.shared("fact_quality", lambda: fact_quality(
            self.corpus)) if self.fact_quality else None)
        self._ready = True

    # -- online -------------------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The passages holding the most PageRank mass after walks from the matched facts."""
        check_request(question, top_k)
        self.warm_up()
        vector = self.context.encode(question)
        dense = self.dense_scores(vector, max(top_k, self.passages))
        matched = self.match_facts(question, vector)
        weights = self.entity_weights(question, matched)
        if not weights:
            return [self.corpus.retrieved(chunk, score) for chunk, score in dense[:top_k]]
        start = self.seed_vector(weights, dense)
        mass = self.walk.pushed(start / start.sum(), self.damping, self.epsilon)
        scores = self.final_scores(self.passage_scores(mass), dense)
        # Paths start from the entities of the best matched fact (or the best linked one).
        starts = list(self.corpus.facts[matched[0][0]].entities) if matched else []
        distances = self.graph.hop_distances(starts or [max(weights, key=weights.get)],
                                             PATH_HOPS)
        return [self._result(chunk, score, mass, matched, distances)
                for chunk, score in top_scores(scores, top_k) if score > 0]

    def dense_scores(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The `k` chunks nearest the question as (chunk, score), best first, their cosine
        min-max normalised over those `k`."""
        hits = [(self.corpus.chunk_index[id_], score)
                for id_, score in self.chunk_index.search(vector, k)
                if id_ in self.corpus.chunk_index]
        return _normalised(hits)

    def match_facts(self, question: str, vector: np.ndarray) -> list[tuple[int, float]]:
        """The best `facts` facts as (fact index, score), best first, their cosine min-max
        normalised over the `candidates` nearest facts; with the LLM filter, only those it
        keeps."""
        hits = [(self.corpus.fact_index[id_], score)
                for id_, score in self.fact_index.search(vector, max(self.candidates,
                                                                     self.facts))
                if id_ in self.corpus.fact_index]
        if self.usable_facts is not None:
            hits = [(fact, score) for fact, score in hits if self.usable_facts[fact]]
        matched = _normalised(hits)[:self.facts]
        if self.fact_filter == "llm" and matched:
            keep = recognise_facts(self.llm, question,
                                   [self.corpus.facts[f].text for f, _ in matched])
            matched = [matched[i] for i in keep]
        return matched

    def entity_weights(self, question: str, matched: Sequence[tuple[int, float]]
                       ) -> dict[int, float]:
        """Entity → seed weight: the best score of a matched fact naming it × the entity's
        specificity, best `entities` kept; or the linked entities with `ner`."""
        weights: dict[int, float] = {}
        if self.seeding in ("ner", "both"):
            for e in question_seeds(self.linker, self.corpus, question, self.graph.hubs,
                                    self.entities):
                weights[e.entity] = e.score * float(self.specificity[e.entity])
            if self.seeding == "ner":
                return weights
        for fact, score in matched:
            for entity in self.corpus.facts[fact].entities:
                weight = score * float(self.specificity[entity])
                weights[entity] = max(weight, weights.get(entity, 0.0))
        best = sorted(weights, key=lambda e: (-weights[e], e))[:self.entities * (
            2 if self.seeding == "both" else 1)]
        return {e: weights[e] for e in best if weights[e] > 0}

    def seed_vector(self, weights: dict[int, float], dense: Sequence[tuple[int, float]]
                    ) -> np.ndarray:
        """The restart distribution before normalising: entities, then passage nodes."""
        start = np.zeros(self.walk.transition.shape[0], dtype=np.float32)
        for entity, weight in weights.items():
            start[entity] = weight
        if self.passage_nodes:
            for chunk, score in dense:
                start[self.walk.entities + chunk] = score * self.passage_weight
        return start

    def passage_scores(self, mass: np.ndarray) -> np.ndarray:
        """Each chunk's PageRank mass; without passage nodes, the summed mass of its entities."""
        if self.passage_nodes:
            return mass[self.walk.entities:]
        return np.asarray(self.walk.chunk_entities @ mass[:self.walk.entities]).ravel()

    def final_scores(self, scores: np.ndarray, dense: Sequence[tuple[int, float]]
                     ) -> np.ndarray:
        """Passage mass over passage degree ** `degree_norm` (a passage naming many entities
        collects mass from all of them), rescaled to [0, 1] and mixed with the dense score
        (min-max over the `passages` nearest) at `dense_weight`."""
        if self.degree_norm:
            scores = scores / np.power(self.passage_degree, self.degree_norm)
        if not self.dense_weight:
            return scores
        if self.mix == "rrf":  # reciprocal ranks, as `hybrid` fuses whole retrievers
            mixed = np.zeros_like(scores, dtype=np.float64)
            order = np.argsort(-scores, kind="stable")[:len(dense) * 4]
            mixed[order] = (1.0 - self.dense_weight) / (RRF_K + 1 + np.arange(len(order)))
            for rank, (chunk, _) in enumerate(dense, 1):
                mixed[chunk] += self.dense_weight / (RRF_K + rank)
            return mixed
        top = float(scores.max())
        relative = scores / top if top > 0 else scores
        mixed = (1.0 - self.dense_weight) * np.power(relative, self.mass_power)
        for chunk, score in dense:
            mixed[chunk] += self.dense_weight * score
        return mixed

    def _result(self, chunk: int, score: float, mass: np.ndarray,
                matched: Sequence[tuple[int, float]], distances: np.ndarray) -> RetrievedChunk:
        own = [f for f, _ in matched if self.corpus.facts[f].chunk == chunk]
        rest = sorted(set(self.corpus.chunk_facts[chunk]) - set(own),
                      key=lambda f: (-sum(mass[e] for e in self.corpus.facts[f].entities), f))
        evidence = tuple(self.corpus.facts[f].text for f in [*own, *rest][:3])
        paths = heaviest_path(self.walk, self.graph, self.corpus, chunk, mass, distances)
        return self.corpus.retrieved(chunk, score, evidence, paths)


# -- the graph --------------------------------------------------------------------------------


def synonymy_edges(corpus: RetrievalCorpus, vectors, threshold: float, neighbours: int):
    """(rows, cols, similarities) of the synonymy edges between entities: each entity's
    `neighbours` most similar names at or above `threshold`, compared exactly (so the edges of
    an incrementally synced index equal a fresh build's). Names with fewer than three letters
    or digits get none."""
    matrix = aligned_matrix(vectors, corpus.entity_index)
    eligible = np.array([len(re.sub(r"[\W_]", "", name)) >= _MIN_SYNONYM_CHARS
                         for name in corpus.entity_names], dtype=bool)
    rows, cols, sims = [], [], []
    candidates = np.flatnonzero(eligible)
    pool = matrix[candidates]
    for start in range(0, len(candidates), _SYNONYM_BLOCK):
        block = candidates[start:start + _SYNONYM_BLOCK]
        similarity = matrix[block] @ pool.T
        similarity[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        for i, entity in enumerate(block):
            row = similarity[i]
            hits = np.flatnonzero(row >= threshold)
            if len(hits) > neighbours:
                hits = hits[np.lexsort((hits, -row[hits]))[:neighbours]]
            rows.append(np.full(len(hits), entity, dtype=np.int64))
            cols.append(candidates[hits])
            sims.append(row[hits].astype(np.float32))
    if not rows:
        return _no_edges()
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def walk_graph(corpus: RetrievalCorpus, synonyms, passage_nodes: bool = True) -> RandomWalk:
    """The undirected, weighted walk graph: entities joined by their relations (weight: how
    often stated), shared propositions and synonymy edges (weight: similarity), and, with
    `passage_nodes`, each chunk joined to its entities (weight 1)."""
    sparse = require("scipy.sparse", "local")
    n_entities = len(corpus.entity_ids)
    rows, cols, weights = [], [], []
    for edge in corpus.relations:
        if edge.subject != edge.object:
            rows.append(edge.subject)
            cols.append(edge.object)
            weights.append(1.0)
    for entities in corpus.proposition_entities:
        for a, b in _pairs(entities):
            rows.append(a)
            cols.append(b)
            weights.append(1.0)
    syn_rows, syn_cols, syn_weights = synonyms
    stated = sparse.coo_matrix((np.asarray(weights, dtype=np.float32),
                                (np.asarray(rows, dtype=np.int64),
                                 np.asarray(cols, dtype=np.int64))),
                               shape=(n_entities, n_entities)).tocsr()
    similar = sparse.coo_matrix((syn_weights, (syn_rows, syn_cols)),
                                shape=(n_entities, n_entities)).tocsr()
    # A synonymy pair is found from both sides: keep one weight, not their sum.
    entity_graph = stated + stated.T + similar.maximum(similar.T)
    chunk_entities = _chunk_entities(corpus, sparse)
    if passage_nodes:
        weights = sparse.bmat([[entity_graph, chunk_entities.T], [chunk_entities, None]],
                              format="csr", dtype=np.float32)
    else:
        weights = entity_graph.astype(np.float32).tocsr()
    return RandomWalk.from_weights(weights, n_entities, chunk_entities)


def _chunk_entities(corpus: RetrievalCorpus, sparse):
    """CSR matrix, one row per chunk, 1 where the chunk mentions or states a fact about an
    entity."""
    pairs = set(corpus.mentions)
    pairs.update((fact.chunk, e) for fact in corpus.facts for e in fact.entities)
    rows = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    cols = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    return sparse.coo_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)),
                             shape=(len(corpus.chunks), len(corpus.entity_ids))).tocsr()


def _pairs(entities: Sequence[int]) -> list[tuple[int, int]]:
    members = list(entities)[:8]
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1:] if a != b]


def fact_quality(corpus: RetrievalCorpus) -> np.ndarray:
    """Per fact, whether it can stand for its passage when matched to a question: not one
    that repeats an entity's name as its other end, has no predicate, or spans a whole
    sentence (more than MAX_FACT_WORDS words)."""
    usable = np.ones(len(corpus.facts), dtype=bool)
    for i, fact in enumerate(corpus.facts):
        words = fact.text.split()
        names = [corpus.entity_names[e].casefold() for e in fact.entities]
        rest = fact.text.casefold()
        for name in names:
            rest = rest.replace(name, " ", 1)
        if len(words) > MAX_FACT_WORDS or not rest.split() or (
                fact.kind == "relation" and len(set(names)) < 2):
            usable[i] = False
    return usable


def _no_edges():
    return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.float32))


def _normalised(hits: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Ranked (item, cosine) pairs with the cosines min-max rescaled to [0, 1] over them (all
    ones when they are equal)."""
    if not hits:
        return []
    low, high = min(s for _, s in hits), max(s for _, s in hits)
    if high - low < 1e-9:
        return [(item, 1.0) for item, _ in hits]
    return [(item, (score - low) / (high - low)) for item, score in hits]


# -- recognition memory: the optional LLM filter on matched facts ------------------------------


class RecognisedFacts(BaseModel):
    """The LLM's reply: the numbers of the facts that help answer the question."""

    facts: list[int] = Field(default_factory=list)


FACT_FILTER = PromptTemplate(
    name="hipporag2.fact_filter.v1",
    system="You filter facts for a question answering system. Reply with JSON only.",
    user=("Which of these FACTS help answer the QUESTION? Keep every fact about an entity the "
          "question asks about or that leads to its answer; drop the unrelated ones.\n\n"
          "QUESTION: {question}\n\nFACTS:\n{facts}\n\n"
          'Reply with JSON: "facts" holds the numbers of the facts to keep.'),
    reply=RecognisedFacts,
    max_tokens=64,
)


def recognise_facts(llm, question: str, facts: Sequence[str]) -> list[int]:
    """Indexes (0-based, in order) of the `facts` the LLM judges useful for `question`; an
    unusable reply keeps them all, so a filter failure never loses the graph's evidence."""
    listed = "\n".join(f"{i}. {fact}" for i, fact in enumerate(facts, 1))
    [response] = llm.generate([FACT_FILTER.request("hipporag2-fact-filter", question=question,
                                                   facts=listed)])
    reply = response.parsed
    if not response.ok or not isinstance(reply, RecognisedFacts):
        return list(range(len(facts)))
    return sorted({n - 1 for n in reply.facts if 1 <= n <= len(facts)})
