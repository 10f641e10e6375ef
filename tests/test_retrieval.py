"""Retrievers over real stores: each question is built so only the right behaviour passes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kgx.errors import ConfigError, InputError
from kgx.graphdb import open_store
from kgx.models import Entity, GraphBatch
from kgx.retrieval import RETRIEVERS, RetrievalContext, RetrievedChunk, make_retriever
from kgx.testing import graphs

EXTRACTOR = "test.retrieval.v1"
TWO_HOP = "Where does the founder of Les Films du Losange work?"
PARAPHRASE = "Who penned the earliest computer program?"
RARE_TERM = "Which valve has part number QZ-4471?"

_ENTITIES = {name: Entity(name=name, type=kind) for name, kind in [
    ("Les Films du Losange", "ORG"), ("Éric Rohmer", "PERSON"), ("Barbet Schroeder", "PERSON"),
    ("Cahiers du cinéma", "ORG"), ("Léon Gaumont", "PERSON"), ("Gaumont", "ORG"),
    ("camera workshop", "CONCEPT"), ("QZ-4471", "PRODUCT"), ("left intake valve", "CONCEPT"),
    ("Ada Lovelace", "PERSON"), ("first algorithm", "CONCEPT")]}

# key: (title, text, relations, propositions). "rohmer" is the bridge passage of TWO_HOP: only
# a walk from Les Films du Losange through Éric Rohmer reaches it; "gaumont" reads much like
# the question but lies outside that graph neighbourhood. "valve" and "ada" have no
# propositions, as a spaCy graph has none: their facts are verbalised relations.
PASSAGES = {
    "losange": ("Les Films du Losange", "Les Films du Losange is a French film production and "
                "distribution company. It was founded in 1962 by Éric Rohmer and Barbet "
                "Schroeder.",
                [("Les Films du Losange", "founded by", "Éric Rohmer"),
                 ("Les Films du Losange", "founded by", "Barbet Schroeder")],
                [("Les Films du Losange was founded by Éric Rohmer and Barbet Schroeder.",
                  ("Les Films du Losange", "Éric Rohmer", "Barbet Schroeder"))]),
    "rohmer": ("Éric Rohmer", "Éric Rohmer was a French director and critic. He was the editor "
               "of the magazine Cahiers du cinéma from 1957 to 1963.",
               [("Éric Rohmer", "editor of", "Cahiers du cinéma")],
               [("Éric Rohmer was the editor of Cahiers du cinéma.",
                 ("Éric Rohmer", "Cahiers du cinéma"))]),
    "gaumont": ("Gaumont", "Gaumont is a French film studio. Its founder, Léon Gaumont, first "
                "worked at a camera workshop.",
                [("Léon Gaumont", "founded", "Gaumont"),
                 ("Léon Gaumont", "worked at", "camera workshop")],
                [("The founder of Gaumont, Léon Gaumont, worked at a camera workshop.",
                  ("Léon Gaumont", "Gaumont", "camera workshop"))]),
    "valve": ("Maintenance catalogue", "The left intake valve carries part number QZ-4471 in "
              "the maintenance catalogue.",
              [("left intake valve", "has part number", "QZ-4471")], []),
    "ada": ("Ada Lovelace", "Ada Lovelace wrote the first algorithm intended to be carried out "
            "by a machine.", [("Ada Lovelace", "wrote", "first algorithm")], []),
}


def passages_batch(keys=tuple(PASSAGES)) -> GraphBatch:
    """The passages `keys` as a GraphBatch with documents, chunks, mentions and facts."""
    return graphs.passages_batch({key: PASSAGES[key] for key in keys}, _ENTITIES, EXTRACTOR,
                                 external_id=lambda key: f"2wiki-{key}")


@pytest.fixture
def passages_store(each_store_uri):
    """Every passage, on each backend."""
    with open_store(each_store_uri) as store:
        store.upsert(passages_batch())
        yield store


def _ids(hits: list[RetrievedChunk]) -> list[str | None]:
    return [hit.external_id for hit in hits]


class CountingEncoder:
    """The shared MiniLM encoder, counting the texts it embeds."""

    def __init__(self) -> None:
        from kgx.embeddings import shared_encoder

        self.inner = shared_encoder()
        self.name = self.inner.name
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts += list(texts)
        return self.inner.encode(texts)


# -- each retriever's own strength -----------------------------------------------------------


def test_retrieval_dense_finds_a_paraphrase_that_bm25_misses(passages_store):
    context = RetrievalContext(passages_store)
    dense = make_retriever("dense", passages_store, context=context)
    bm25 = make_retriever("bm25", passages_store, context=context)

    hits = dense.retrieve(PARAPHRASE, top_k=3)

    assert _ids(hits)[0] == "2wiki-ada"
    assert hits[0].title == "Ada Lovelace" and hits[0].text.startswith("Ada Lovelace wrote")
    assert "2wiki-ada" not in _ids(bm25.retrieve(PARAPHRASE, top_k=3))


def test_retrieval_bm25_ranks_the_rare_term_first(passages_store):
    hits = make_retriever("bm25", passages_store).retrieve(RARE_TERM, top_k=3)

    assert _ids(hits) == ["2wiki-valve"]  # no other passage shares a word with the question
    assert hits[0].score > 0


def test_retrieval_dense_over_facts_maps_facts_to_their_chunks(passages_store):
    hits = make_retriever("dense", passages_store, over="facts").retrieve(RARE_TERM, top_k=2)

    assert _ids(hits)[0] == "2wiki-valve"
    assert hits[0].evidence == ("left intake valve has part number QZ-4471",)


def test_retrieval_graph_and_ppr_reach_the_bridge_passage_dense_ranks_low(passages_store):
    context = RetrievalContext(passages_store)
    dense = make_retriever("dense", passages_store, context=context).retrieve(TWO_HOP, top_k=2)
    graph = make_retriever("graph", passages_store, context=context).retrieve(TWO_HOP, top_k=3)
    ppr = make_retriever("ppr", passages_store, context=context).retrieve(TWO_HOP, top_k=3)

    assert _ids(dense) == ["2wiki-losange", "2wiki-gaumont"]  # the question reads like gaumont
    assert _ids(graph)[:2] == ["2wiki-losange", "2wiki-rohmer"]
    assert _ids(ppr) == ["2wiki-losange", "2wiki-rohmer"]  # nothing flows to gaumont
    bridge = graph[1]
    assert bridge.paths == ("Les Films du Losange -[founded by]-> Éric Rohmer "
                            "-[editor of]-> Cahiers du cinéma",)
    assert "Éric Rohmer was the editor of Cahiers du cinéma." in bridge.evidence
    assert (bridge.title, bridge.doc_id) == ("Éric Rohmer", ppr[1].doc_id)
    assert ppr[1].paths == ("Les Films du Losange -[founded by]-> Éric Rohmer",)


def test_retrieval_graph_without_known_entities_ranks_by_best_fact(passages_store):
    hits = make_retriever("graph", passages_store).retrieve(PARAPHRASE, top_k=2)

    assert _ids(hits)[0] == "2wiki-ada"
    assert hits[0].paths == ()


def test_retrieval_ppr_falls_back_to_dense_or_nothing(passages_store):
    assert _ids(make_retriever("ppr", passages_store).retrieve(PARAPHRASE, 1)) == ["2wiki-ada"]
    assert make_retriever("ppr", passages_store, fallback="none").retrieve(PARAPHRASE, 1) == []


def test_retrieval_hybrid_fuses_its_parts_over_one_snapshot(passages_store):
    hybrid = make_retriever("hybrid", passages_store, retrievers=("dense", "bm25", "graph"))
    hybrid.warm_up()

    hits = hybrid.retrieve(TWO_HOP, top_k=3)

    assert _ids(hits)[0] == "2wiki-losange"
    assert "2wiki-rohmer" in _ids(hits)
    assert hits[0].score == pytest.approx(3 / 61)  # first for all three parts
    assert {id(part.context) for part in hybrid.parts} == {id(hybrid.context)}


def test_retrieval_rrf_fuse_sums_reciprocal_ranks():
    from kgx.retrieval import rrf_fuse

    def hit(chunk: str, evidence: tuple[str, ...] = ()) -> RetrievedChunk:
        return RetrievedChunk(chunk_id=chunk, doc_id="d", text=chunk, score=9.0,
                              evidence=evidence)

    fused = rrf_fuse([[hit("a", ("x",)), hit("b")], [hit("b", ("y",)), hit("c")]], k=60)

    assert [h.chunk_id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].evidence == ("y",) and fused[1].evidence == ("x",)


# -- the corpus snapshot and the entity linker -----------------------------------------------


def test_retrieval_corpus_verbalises_relations_and_keeps_propositions(passages_store):
    corpus = RetrievalContext(passages_store).corpus()

    by_text = {fact.text: fact for fact in corpus.facts}
    relation = by_text["Ada Lovelace wrote first algorithm"]
    proposition = by_text["Éric Rohmer was the editor of Cahiers du cinéma."]
    assert relation.kind == "relation" and proposition.kind == "proposition"
    assert {corpus.entity_names[e] for e in relation.entities} == {"Ada Lovelace",
                                                                    "first algorithm"}
    assert corpus.chunks[proposition.chunk].external_id == "2wiki-rohmer"
    assert len(corpus.chunks) == len(PASSAGES)
    assert len(corpus.mentions) == len(passages_batch().mentions) == 12


def test_retrieval_linker_matches_exact_accent_free_and_misspelt_names():
    from kgx.retrieval import EntityLinker

    linker = EntityLinker(["Les Films du Losange", "Éric Rohmer", "Gaumont"], [(), ("Rohmer",)])

    assert [e.name for e in linker.link("founder of les films du losange?")] == [
        "Les Films du Losange"]
    assert linker.link("What did Eric Rohmer edit?")[0].name == "Éric Rohmer"
    misspelt = linker.link("Who started Les Film du Losagne?")
    assert misspelt[0].name == "Les Films du Losange" and 0.88 <= misspelt[0].score < 1
    assert linker.link("Who wrote the first program?") == []


# -- vector indexes ---------------------------------------------------------------------------


def test_retrieval_local_vector_index_embeds_only_what_changed(tmp_path):
    path = tmp_path / "store"
    with open_store(str(path)) as store:
        store.upsert(passages_batch(["losange", "rohmer"]))
        first = _warm_chunks(store)
        assert (first.embedded, first.dropped, len(first.texts)) == (2, 0, 2)
        assert (path / "vectors" / "chunks" / "manifest.json").exists()

        store.upsert(passages_batch(["valve"]))
        added = _warm_chunks(store)
        assert (added.embedded, added.dropped) == (1, 0)
        assert added.texts == ["Maintenance catalogue\n" + PASSAGES["valve"][1]]

        store.query("MATCH (c:Chunk) WHERE c.text STARTS WITH 'The left' DETACH DELETE c",
                    write=True)
        removed = _warm_chunks(store)
        assert (removed.embedded, removed.dropped) == (0, 1)
    with open_store(str(path)) as reopened:
        again = _warm_chunks(reopened)
        assert (again.embedded, again.dropped) == (0, 0)
        hits = make_retriever("dense", reopened).retrieve(RARE_TERM, top_k=5)
        assert {h.external_id for h in hits} == {"2wiki-losange", "2wiki-rohmer"}
    files = sorted(p.name for p in (path / "vectors" / "chunks").iterdir())
    assert len(files) == 3  # the manifest and one generation: older ones were removed


class _Warmed:
    def __init__(self, index, encoder: CountingEncoder) -> None:
        self.embedded, self.dropped = index.embedded, index.dropped
        self.texts = [t for t in encoder.texts if t not in (TWO_HOP, RARE_TERM)]


def _warm_chunks(store) -> _Warmed:
    encoder = CountingEncoder()
    context = RetrievalContext(store, encoder=encoder)
    return _Warmed(context.vectors("chunks"), encoder)


def test_retrieval_local_vector_index_rebuilds_after_a_torn_write(tmp_path):
    path = tmp_path / "store"
    with open_store(str(path)) as store:
        store.upsert(passages_batch(["losange", "rohmer"]))
        _warm_chunks(store)
        folder = path / "vectors" / "chunks"
        (folder / "index-deadbeef-1.bin").write_bytes(b"half a file")  # a crashed save
        assert _warm_chunks(store).embedded == 0  # the manifest still names the good copy

        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / f"index-{manifest['generation']}.bin").write_bytes(b"garbage")
        rebuilt = _warm_chunks(store)
        assert rebuilt.embedded == 2
        hits = make_retriever("dense", store).retrieve(TWO_HOP, top_k=1)
        assert _ids(hits) == ["2wiki-losange"]


def test_retrieval_bm25_index_is_cached_beside_the_store(tmp_path):
    path = tmp_path / "store"
    with open_store(str(path)) as store:
        store.upsert(passages_batch())
        make_retriever("bm25", store).warm_up()
        [cached] = list((path / "bm25").iterdir())
        stamp = (cached / "chunk_ids.json").stat().st_mtime_ns
        assert _ids(make_retriever("bm25", store).retrieve(RARE_TERM, 1)) == ["2wiki-valve"]
        assert (cached / "chunk_ids.json").stat().st_mtime_ns == stamp


@pytest.mark.neo4j
def test_retrieval_neo4j_uses_its_native_vector_index(neo4j_store):
    from kgx.retrieval import Neo4jVectorIndex

    neo4j_store.upsert(passages_batch(["losange", "rohmer", "gaumont"]))
    context = RetrievalContext(neo4j_store)
    graph = make_retriever("graph", neo4j_store, context=context)
    graph.warm_up()
    dense = make_retriever("dense", neo4j_store, context=context)

    assert _ids(dense.retrieve(TWO_HOP, 1)) == ["2wiki-losange"]
    assert isinstance(context.vectors("chunks"), Neo4jVectorIndex)
    indexes = neo4j_store.query("SHOW VECTOR INDEXES YIELD name, state "
                                "RETURN name AS name, state AS state").records()
    assert {(i["name"], i["state"]) for i in indexes} >= {
        ("kgx_chunk_embedding", "ONLINE"), ("kgx_proposition_embedding", "ONLINE"),
        ("kgx_relation_embedding", "ONLINE")}
    counts = neo4j_store.query(
        "MATCH (c:Chunk) WITH count(c.embedding) AS chunks "
        "MATCH ()-[r:RELATION]->() RETURN chunks AS chunks, count(r.embedding) AS relations")
    assert counts.rows == [[3, 5]]

    neo4j_store.upsert(passages_batch(["valve"]))
    again = RetrievalContext(neo4j_store)
    assert again.vectors("chunks").embedded == 1
    assert _ids(make_retriever("dense", neo4j_store, context=again).retrieve(RARE_TERM, 1)) == [
        "2wiki-valve"]


# -- bad input ---------------------------------------------------------------------------------


def test_retrieval_make_retriever_rejects_bad_names_and_options(tmp_path):
    store = open_store(str(tmp_path / "store"))
    with pytest.raises(ConfigError, match=r"unknown retriever 'sparse'.*dense, bm25"):
        make_retriever("sparse", store)
    with pytest.raises(ConfigError, match=r"has no option 'topk'.*over"):
        make_retriever("dense", store, topk=3)
    with pytest.raises(ConfigError, match="needs an LLM"):
        make_retriever("text2cypher", store)
    with pytest.raises(ConfigError, match="cannot fuse 'hybrid'"):
        make_retriever("hybrid", store, retrievers=("dense", "hybrid"))
    with pytest.raises(ConfigError, match="over="):
        make_retriever("dense", store, over="documents")
    assert not (tmp_path / "store").exists()  # constructors do no I/O
    assert RETRIEVERS == ("dense", "bm25", "graph", "ppr", "hipporag2", "hybrid", "text2cypher")


def test_retrieval_bad_questions_and_empty_stores_raise_kgx_errors(each_store_uri):
    with open_store(each_store_uri) as store:
        retriever = make_retriever("graph", store)
        with pytest.raises(InputError, match=r"has no chunks.*kgx extract"):
            retriever.warm_up()
        store.upsert(passages_batch(["ada"]))
        dense = make_retriever("dense", store)
        with pytest.raises(InputError, match="question is empty"):
            dense.retrieve("  ", top_k=3)
        with pytest.raises(ConfigError, match="top_k"):
            dense.retrieve(PARAPHRASE, top_k=0)


def test_retrieval_import_loads_nothing_heavy():
    code = ("import sys, json, kgx.retrieval as r; r.make_retriever('dense', None); "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"numpy", "scipy", "torch", "hnswlib", "bm25s", "neo4j"}
