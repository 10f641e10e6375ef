"""The Distill-SynthKG proposition–entity graph retriever, and the entity graph it walks.

For a question it takes the top-M facts by embedding similarity, keeps those with an entity
within N hops of an entity the question names, scores each chunk by the similarity of its kept
facts and returns the best chunks, with the facts as evidence and the entity paths that reached
them. Everything but the question's embedding is precomputed at warm-up, so a query is a vector
search, a name look-up and a few sparse-row reads.

    retriever = PropositionGraphRetriever(open_store("./kgx-store"), facts=100, hops=2)
    retriever.warm_up()
    retriever.retrieve("Where does the founder of Les Films du Losange work?", top_k=5)
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from kgx.errors import ConfigError, require

from .corpus import RetrievalContext, RetrievalCorpus, check_request
from .linking import EntityLinker, LinkedEntity
from .protocol import RetrievedChunk

UNREACHED = np.iinfo(np.int16).max
SUPPORT_WEIGHT = 0.2
_MAX_CLIQUE = 8  # a proposition about more entities links only its first eight to each other


class EntityGraph:
    """Entities joined by RELATION edges and by sharing a proposition, undirected, in CSR form.

        graph = EntityGraph.build(corpus)
        distances = graph.hop_distances([seed], max_hops=2)
        graph.path(distances, target, corpus.entity_names)   # "A -[founded by]-> B"
    """

    def __init__(self, adjacency, labels: dict[tuple[int, int], str], hubs: np.ndarray) -> None:
        self.adjacency = adjacency
        self.labels = labels
        """(subject, object) → predicate; co-mention edges have no label."""
        self.hubs = hubs
        """Entities with so many neighbours that walking through them would reach everything."""

    @classmethod
    def build(cls, corpus: RetrievalCorpus, hub_degree: int | None = None) -> EntityGraph:
        """The graph of `corpus`; `hub_degree` defaults to max(50, 1% of the entities)."""
        sparse = require("scipy.sparse", "local")
        labels: dict[tuple[int, int], str] = {}
        pairs = set()
        for edge in corpus.relations:
            if edge.subject != edge.object:
                labels.setdefault((edge.subject, edge.object), edge.predicate)
                pairs.add((edge.subject, edge.object))
        for entities in corpus.proposition_entities:
            members = entities[:_MAX_CLIQUE]
            pairs.update((a, b) for a in members for b in members if a != b)
        n = len(corpus.entity_ids)
        rows = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        cols = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        matrix = sparse.coo_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)),
                                   shape=(n, n)).tocsr()
        adjacency = ((matrix + matrix.T) > 0).astype(np.float32).tocsr()
        degree = np.diff(adjacency.indptr)
        hub_degree = hub_degree or max(50, n // 100)
        return cls(adjacency, labels, degree > hub_degree)

    def neighbours(self, entity: int) -> np.ndarray:
        start, end = self.adjacency.indptr[entity], self.adjacency.indptr[entity + 1]
        return self.adjacency.indices[start:end]

    def hop_distances(self, seeds: Sequence[int], max_hops: int) -> np.ndarray:
        """Hops from the nearest seed per entity (UNREACHED beyond `max_hops`); hubs are
        reached but not walked through, unless they are seeds."""
        distances = np.full(self.adjacency.shape[0], UNREACHED, dtype=np.int16)
        frontier = np.unique(np.asarray(seeds, dtype=np.int64))
        distances[frontier] = 0
        for hop in range(1, max_hops + 1):
            if hop > 1:
                frontier = frontier[~self.hubs[frontier]]
            if not len(frontier):
                break
            reached = np.unique(self.adjacency[frontier].indices)
            frontier = reached[distances[reached] == UNREACHED]
            distances[frontier] = hop
        return distances

    def path(self, distances: np.ndarray, target: int, names: Sequence[str]) -> str:
        """One shortest path from a seed to `target`, as "A -[p]-> B <-[q]- C"."""
        steps = [target]
        while distances[steps[-1]] > 0:
            near = self.neighbours(steps[-1])
            step_back = (distances[near] == distances[steps[-1]] - 1) & (
                (distances[near] == 0) | ~self.hubs[near])
            steps.append(int(near[step_back].min()))
        steps.reverse()
        text = names[steps[0]]
        for a, b in itertools.pairwise(steps):
            if (a, b) in self.labels:
                text += f" -[{self.labels[a, b]}]-> {names[b]}"
            elif (b, a) in self.labels:
                text += f" <-[{self.labels[b, a]}]- {names[b]}"
            else:
                text += f" -[same proposition]- {names[b]}"
        return text


def _chunk_score(weights: list[float]) -> float:
    """A chunk scores as its best fact plus a fifth of the others: support counts, but a chunk
    does not win on the number of loosely related facts it states."""
    best = max(weights)
    return best + SUPPORT_WEIGHT * (sum(weights) - best)


def question_seeds(linker: EntityLinker, corpus: RetrievalCorpus, question: str,
                   hubs: np.ndarray, limit: int) -> list[LinkedEntity]:
    """The question's entities, best linked and most specific first; hubs only if nothing else."""
    linked = linker.link(question, limit=4 * limit)
    specific = [e for e in linked if not hubs[e.entity]] or linked
    specific.sort(key=lambda e: (-e.score, len(corpus.entity_chunks[e.entity]), e.entity))
    return specific[:limit]


def shared_graph(context: RetrievalContext) -> tuple[EntityGraph, EntityLinker]:
    """The context's entity graph and entity linker, built once."""
    corpus = context.corpus()
    graph = context.shared("entity_graph", lambda: EntityGraph.build(corpus))
    linker = context.shared("linker", lambda: EntityLinker(corpus.entity_names,
                                                           corpus.entity_aliases))
    return graph, linker


class PropositionGraphRetriever:
    """Distill-SynthKG's retriever: similar facts near the question's entities, then chunks.

        retriever = PropositionGraphRetriever(store)     # no I/O until warm_up()
        [hit.paths for hit in retriever.retrieve("Where does the founder of X work?")]

    Facts outside the `hops` radius still count, at `outside_weight` of their similarity, so a
    question naming no known entity still gets the chunks of its most similar facts.
    """

    name = "graph"

    def __init__(self, store, *, facts: int = 100, hops: int = 2, seeds: int = 5,
                 outside_weight: float = 0.1, context: RetrievalContext | None = None) -> None:
        if facts < 1 or hops < 0 or seeds < 1 or not 0 <= outside_weight <= 1:
            raise ConfigError("graph retriever options: facts and seeds must be at least 1, "
                              "hops at least 0 and outside_weight in [0, 1]")
        self.store = store
        self.facts, self.hops, self.seeds, self.outside_weight = facts, hops, seeds, outside_weight
        self.context = context or RetrievalContext(store)
        self._ready = False

    def warm_up(self) -> None:
        """Load the corpus, sync the fact vectors, build the entity graph and the linker."""
        if self._ready:
            return
        self.corpus = self.context.corpus()
        self.index = self.context.vectors("facts")
        self.graph, self.linker = shared_graph(self.context)
        self._ready = True

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The chunks whose facts are most similar to the question and near its entities."""
        check_request(question, top_k)
        self.warm_up()
        hits = self.index.search(self.context.encode(question), self.facts)
        seeds = question_seeds(self.linker, self.corpus, question, self.graph.hubs, self.seeds)
        distances = (self.graph.hop_distances([s.entity for s in seeds], self.hops)
                     if seeds else None)
        kept = self._weigh(hits, distances)
        scores = {chunk: _chunk_score([f[0] for f in facts]) for chunk, facts in kept.items()}
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        return [self._result(chunk, score, kept[chunk], distances) for chunk, score in ranked]

    def _weigh(self, hits: list[tuple[str, float]], distances: np.ndarray | None
               ) -> dict[int, list[tuple[float, int, int]]]:
        """Per chunk, its facts among `hits` as (weight, fact, entity reached or -1)."""
        kept: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        for fact_id, similarity in hits:
            position = self.corpus.fact_index.get(fact_id)
            if position is None:
                continue
            fact = self.corpus.facts[position]
            near = self._reach(fact.entities, distances)
            weight = max(similarity, 0.0) * (1.0 if near is not None else self.outside_weight)
            kept[fact.chunk].append((weight, position, -1 if near is None else near))
        return kept

    def _reach(self, entities: tuple[int, ...], distances: np.ndarray | None) -> int | None:
        """The fact's farthest entity within the hop radius (an entity index), else None.

        Without linked entities every fact counts, reaching nothing in particular (-1)."""
        if distances is None:
            return -1
        inside = [e for e in entities if distances[e] <= self.hops]
        return max(inside, key=lambda e: (distances[e], -e)) if inside else None

    def _result(self, chunk: int, score: float, facts: list[tuple[float, int, int]],
                distances: np.ndarray | None) -> RetrievedChunk:
        facts.sort(key=lambda f: (-f[0], f[1]))
        evidence = tuple(self.corpus.facts[p].text for _, p, _ in facts)
        paths: dict[str, None] = {}
        for _, _, target in facts:
            if distances is not None and target >= 0 and distances[target] > 0:
                paths[self.graph.path(distances, target, self.corpus.entity_names)] = None
        return self.corpus.retrieved(chunk, score, evidence, tuple(paths)[:5])
