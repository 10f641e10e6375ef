"""HippoRAG's retriever: personalized PageRank over entities and chunks, from the question's
entities.

The walk graph joins entities by RELATION edges and shared propositions, and each chunk to the
entities it mentions or states facts about. Seeds are the linked entities, weighted by link score
and specificity (1 / the number of chunks an entity occurs in), as in HippoRAG. The column-
stochastic transition matrix is built once at warm-up; a query is a power iteration of sparse
matrix-vector products, and chunks rank by the probability mass that lands on them.

    retriever = PersonalizedPageRankRetriever(open_store("./kgx-store"), damping=0.5)
    retriever.retrieve("Where does the founder of Les Films du Losange work?", top_k=5)
"""

from __future__ import annotations

import numpy as np

from kgx.errors import ConfigError, require

from .corpus import RetrievalContext, RetrievalCorpus, check_request
from .graph import EntityGraph, question_seeds, shared_graph
from .protocol import RetrievedChunk
from .vectors import top_scores

FALLBACKS = ("dense", "none")
PATH_HOPS = 3


class RandomWalk:
    """The entity + chunk graph as a column-stochastic sparse matrix, for personalized PageRank.

        walk = RandomWalk.build(corpus, entity_graph)
        mass = walk.personalized(seed_vector, damping=0.5)   # entities first, then chunks
    """

    def __init__(self, transition, dangling: np.ndarray, entities: int, chunk_entities) -> None:
        self.transition = transition
        self.dangling = dangling
        self.entities = entities
        self.chunk_entities = chunk_entities
        """CSR matrix, one row per chunk, of the entities it is joined to."""

    @classmethod
    def build(cls, corpus: RetrievalCorpus, graph: EntityGraph) -> RandomWalk:
        """The walk graph of `corpus`, reusing the entity-entity edges of `graph`."""
        sparse = require("scipy.sparse", "local")
        n_entities, n_chunks = len(corpus.entity_ids), len(corpus.chunks)
        pairs = set(corpus.mentions)
        pairs.update((fact.chunk, e) for fact in corpus.facts for e in fact.entities)
        rows = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        cols = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        chunk_entities = sparse.coo_matrix(
            (np.ones(len(pairs), dtype=np.float32), (rows, cols)),
            shape=(n_chunks, n_entities)).tocsr()
        weights = sparse.bmat([[graph.adjacency, chunk_entities.T], [chunk_entities, None]],
                              format="csr", dtype=np.float32)
        return cls.from_weights(weights, n_entities, chunk_entities)

    @classmethod
    def from_weights(cls, weights, entities: int, chunk_entities) -> RandomWalk:
        """The walk over a symmetric weight matrix (`entities` entity nodes first): each
        column is normalised to sum to 1; nodes without edges are dead ends."""
        sparse = require("scipy.sparse", "local")
        degree = np.asarray(weights.sum(axis=0)).ravel()
        inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        transition = (weights @ sparse.diags(inverse.astype(np.float32))).tocsr()
        return cls(transition, degree == 0, entities, chunk_entities)

    def pushed(self, seeds: np.ndarray, damping: float = 0.5, epsilon: float = 1e-4
               ) -> np.ndarray:
        """Personalized PageRank by residual pushing (Andersen, Chung and Lang, 2006), every
        node whose residual exceeds `epsilon` pushing at once: each round settles 1 - `damping`
        of the residual and spreads the rest to the neighbours. Only nodes near the seeds are
        touched, so sparse seeds cost far less than power iteration; no node's mass is off by
        more than its final residual (at most `epsilon`). Mass on dead ends restarts."""
        columns = self._columns()
        mass = np.zeros(len(seeds), dtype=np.float64)
        residual = seeds.astype(np.float64)
        active = np.flatnonzero(residual > epsilon)
        while len(active):
            pushed = residual[active]
            mass[active] += (1.0 - damping) * pushed
            residual[active] = 0.0
            residual += damping * (columns[:, active] @ pushed)
            stuck = pushed[self.dangling[active]].sum()
            if stuck:
                residual += damping * stuck * seeds
            active = np.flatnonzero(residual > epsilon)
        return mass

    def _columns(self):
        """The transition matrix in CSC form (each column: where a node's walk goes next)."""
        if getattr(self, "_csc", None) is None:
            self._csc = self.transition.tocsc()
            self._csc.sort_indices()
        return self._csc

    def personalized(self, seeds: np.ndarray, damping: float = 0.5, iterations: int = 50,
                     tolerance: float = 1e-6) -> np.ndarray:
        """Stationary mass of a walk that restarts at `seeds` (a distribution over nodes) with
        probability 1 - `damping` at each step; mass on dead ends restarts too."""
        mass = seeds.astype(np.float32)
        restart = (1.0 - damping) * mass
        for _ in range(iterations):
            step = self.transition @ mass + mass[self.dangling].sum() * seeds
            updated = restart + damping * step
            change = float(np.abs(updated - mass).sum())
            mass = updated
            if change < tolerance:
                break
        return mass


def heaviest_path(walk: RandomWalk, graph: EntityGraph, corpus: RetrievalCorpus, chunk: int,
                  mass: np.ndarray, distances: np.ndarray) -> tuple[str, ...]:
    """The path from a seed to the chunk's entity holding the most mass, within PATH_HOPS
    (none if the chunk has no entity reached)."""
    row = walk.chunk_entities
    entities = row.indices[row.indptr[chunk]:row.indptr[chunk + 1]]
    reached = [e for e in entities if 0 < distances[e] <= PATH_HOPS]
    if not reached:
        return ()
    best = max(reached, key=lambda e: (mass[e], -e))
    return (graph.path(distances, int(best), corpus.entity_names),)


class PersonalizedPageRankRetriever:
    """HippoRAG-style retrieval: PageRank personalized on the entities the question names.

        retriever = PersonalizedPageRankRetriever(store)   # no I/O until warm_up()
        hits = retriever.retrieve("Who directed the film that won X?", top_k=5)

    A question naming no entity of the graph falls back to dense retrieval (`fallback="dense"`)
    or returns nothing (`fallback="none"`).
    """

    name = "ppr"

    def __init__(self, store, *, damping: float = 0.5, iterations: int = 50,
                 tolerance: float = 1e-6, seeds: int = 5, fallback: str = "dense",
                 context: RetrievalContext | None = None) -> None:
        if not 0 < damping < 1 or iterations < 1 or seeds < 1:
            raise ConfigError("ppr options: damping must be in (0, 1), iterations and seeds "
                              "at least 1")
        if fallback not in FALLBACKS:
            raise ConfigError(f"ppr fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.store = store
        self.damping, self.iterations, self.tolerance = damping, iterations, tolerance
        self.seeds, self.fallback = seeds, fallback
        self.context = context or RetrievalContext(store)
        self._ready = False

    def warm_up(self) -> None:
        """Load the corpus and build the transition matrix (and the fallback's chunk vectors)."""
        if self._ready:
            return
        self.corpus = self.context.corpus()
        self.graph, self.linker = shared_graph(self.context)
        self.walk = self.context.shared("random_walk",
                                        lambda: RandomWalk.build(self.corpus, self.graph))
        if self.fallback == "dense":
            self.chunk_vectors = self.context.vectors("chunks")
        self._ready = True

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The chunks holding the most PageRank mass after walks from the question's entities."""
        check_request(question, top_k)
        self.warm_up()
        seeds = question_seeds(self.linker, self.corpus, question, self.graph.hubs, self.seeds)
        if not seeds:
            return self._fallback(question, top_k)
        start = np.zeros(self.walk.transition.shape[0], dtype=np.float32)
        for seed in seeds:
            start[seed.entity] += seed.score / max(1, len(self.corpus.entity_chunks[seed.entity]))
        mass = self.walk.personalized(start / start.sum(), self.damping, self.iterations,
                                      self.tolerance)
        distances = self.graph.hop_distances([s.entity for s in seeds], PATH_HOPS)
        chunk_mass = mass[self.walk.entities:]
        return [self._result(chunk, score, mass, distances)
                for chunk, score in top_scores(chunk_mass, top_k) if score > 0]

    def _result(self, chunk: int, score: float, mass: np.ndarray,
                distances: np.ndarray) -> RetrievedChunk:
        facts = sorted(self.corpus.chunk_facts[chunk],
                       key=lambda f: (-sum(mass[e] for e in self.corpus.facts[f].entities), f))
        evidence = tuple(self.corpus.facts[f].text for f in facts[:3])
        paths = heaviest_path(self.walk, self.graph, self.corpus, chunk, mass, distances)
        return self.corpus.retrieved(chunk, score, evidence, paths)

    def _fallback(self, question: str, top_k: int) -> list[RetrievedChunk]:
        if self.fallback == "none":
            return []
        hits = self.chunk_vectors.search(self.context.encode(question), top_k)
        return [self.corpus.retrieved(self.corpus.chunk_index[id_], score)
                for id_, score in hits if id_ in self.corpus.chunk_index]
