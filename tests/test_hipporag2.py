"""The HippoRAG 2 retriever over real stores: a two-hop question dense misses, its seeds and the
walk checked exactly against networkx, incremental indexes, and both backends alike."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from kgx.errors import ConfigError
from kgx.graphdb import open_store
from kgx.models import Entity, GraphBatch
from kgx.retrieval import RetrievalContext, make_retriever
from kgx.testing.graphs import passages_batch

EXTRACTOR = "test.hipporag2.v1"
# The bridge passage, "quillon", shares no word with the question: only the fact "Velmora
# Studios founded by Anika Draveth" and the walk through Anika Draveth lead there. The two
# distractors read like the question.
QUESTION = "Where was the founder of Velmora Studios raised?"
_ENTITIES = {name: Entity(name=name, type=kind) for name, kind in [
    ("Velmora Studios", "ORG"), ("Anika Draveth", "PERSON"), ("Quillon", "GPE"),
    ("Marlo Pictures", "ORG"), ("Tomas Reyna", "PERSON"), ("Lisbon", "GPE"),
    ("Corvane Films", "ORG"), ("Ida Merrow", "PERSON"), ("Dublin", "GPE"),
    ("A. Draveth", "PERSON")]}
PASSAGES = {
    "velmora": ("Velmora Studios", "Velmora Studios is a film company founded by Anika Draveth "
                "in 1971.", [("Velmora Studios", "founded by", "Anika Draveth")]),
    "quillon": ("Anika Draveth", "Draveth spent her childhood in Quillon, a fishing village "
                "on a northern coast.", [("Anika Draveth", "spent childhood in", "Quillon")]),
    "marlo": ("Marlo Pictures", "The founder of Marlo Pictures, Tomas Reyna, was raised in "
              "Lisbon.", [("Tomas Reyna", "raised in", "Lisbon")]),
    "corvane": ("Corvane Films", "Where was the founder of Corvane Films raised? Ida Merrow "
                "grew up in Dublin.", [("Ida Merrow", "grew up in", "Dublin")]),
    "letters": ("Letters", "A. Draveth signed the letters.", [("A. Draveth", "signed", "letters")]),
}
_ENTITIES["letters"] = Entity(name="letters", type="CONCEPT")


def hipporag_batch(keys=tuple(PASSAGES)) -> GraphBatch:
    return passages_batch({key: PASSAGES[key] for key in keys}, _ENTITIES, EXTRACTOR)


@pytest.fixture
def hipporag_store(each_store_uri):
    with open_store(each_store_uri) as store:
        store.upsert(hipporag_batch())
        yield store


def _ids(hits) -> list[str | None]:
    return [hit.external_id for hit in hits]


def test_hipporag2_finds_the_bridge_passage_that_dense_misses(hipporag_store):
    context = RetrievalContext(hipporag_store)
    dense = make_retriever("dense", hipporag_store, context=context).retrieve(QUESTION, 2)
    walk = make_retriever("hipporag2", hipporag_store, context=context, dense_weight=0.0)
    hippo = walk.retrieve(QUESTION, 2)

    assert "quillon" not in _ids(dense)
    assert _ids(hippo) == ["velmora", "quillon"]
    assert hippo[1].paths == ("Anika Draveth -[spent childhood in]-> Quillon",)
    assert hippo[1].evidence == ("Anika Draveth spent childhood in Quillon",)
    # The default mixes in the dense score: the bridge passage stays, below the distractor
    # that reads like the question.
    mixed = make_retriever("hipporag2", hipporag_store, context=context).retrieve(QUESTION, 3)
    assert _ids(mixed)[0] == "velmora" and set(_ids(mixed)[1:]) == {"quillon", "marlo"}


def test_hipporag2_final_scores_mix_the_walk_with_the_dense_score(hipporag_store):
    retriever = make_retriever("hipporag2", hipporag_store, dense_weight=0.5, mass_power=0.5)
    retriever.warm_up()
    mass = np.array([0.0, 0.25, 1.0, 0.04, 0.0])
    scores = retriever.final_scores(mass, [(0, 1.0), (1, 0.5)])
    assert scores == pytest.approx([0.5, 0.25 + 0.25, 0.5, 0.1, 0.0])
    walk_only = make_retriever("hipporag2", hipporag_store, dense_weight=0.0)
    walk_only.warm_up()
    assert walk_only.final_scores(mass, [(0, 1.0)]) is mass
    with pytest.raises(ConfigError, match="mass_power"):
        make_retriever("hipporag2", hipporag_store, mass_power=0.0)


def test_hipporag2_seeds_the_matched_fact_entities_by_score_and_specificity(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        store.upsert(hipporag_batch())
        retriever = make_retriever("hipporag2", store, facts=1, synonymy=False,
                                   passage_weight=0.05, seeding="facts")
        retriever.warm_up()
        corpus = retriever.corpus
        vector = retriever.context.encode(QUESTION)

        matched = retriever.match_facts(QUESTION, vector)
        weights = retriever.entity_weights(QUESTION, matched)

        [(fact, score)] = matched
        assert corpus.facts[fact].text == "Velmora Studios founded by Anika Draveth"
        assert score == 1.0  # the best fact is the maximum of the min-max scale
        entity = {name: i for i, name in enumerate(corpus.entity_names)}
        # Velmora Studios is in one chunk; Anika Draveth in two, so she weighs half.
        assert weights == {entity["Velmora Studios"]: 1.0, entity["Anika Draveth"]: 0.5}

        texts = [c.indexed_text() for c in corpus.chunks]
        dense = retriever.dense_scores(vector, 3)
        cosines = sorted((float(retriever.context.encoder.encode([t])[0] @ vector), i)
                         for i, t in enumerate(texts))[::-1][:3]
        assert [chunk for chunk, _ in dense] == [i for _, i in cosines]
        low, high = cosines[-1][0], cosines[0][0]
        assert [s for _, s in dense] == pytest.approx([(c - low) / (high - low)
                                                       for c, _ in cosines], abs=1e-5)
        start = retriever.seed_vector(weights, dense)
        passages = start[retriever.walk.entities:]
        # The nearest passage seeds passage_weight, the third nearest 0, the others nothing.
        assert sorted(passages.tolist())[-3:] == pytest.approx([0.0, dense[1][1] * 0.05, 0.05])
        assert texts[int(passages.argmax())].startswith("Velmora Studios")
        assert start[entity["Velmora Studios"]] == 1.0
        assert start[entity["Quillon"]] == 0.0


def test_hipporag2_walk_by_residual_push_equals_networkx_personalized_pagerank(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        store.upsert(hipporag_batch())
        retriever = make_retriever("hipporag2", store, synonymy_threshold=0.5, damping=0.5,
                                   epsilon=1e-10)
        retriever.warm_up()
        corpus, walk = retriever.corpus, retriever.walk
        vector = retriever.context.encode(QUESTION)
        matched = retriever.match_facts(QUESTION, vector)
        start = retriever.seed_vector(retriever.entity_weights(QUESTION, matched),
                                      retriever.dense_scores(vector, 5))

        mass = walk.pushed(start / start.sum(), 0.5, 1e-10)

        # The same graph, built independently from the corpus and the synonymy edges.
        graph = nx.Graph()
        graph.add_nodes_from(range(walk.transition.shape[0]))

        def add(a: int, b: int, weight: float) -> None:
            old = graph.get_edge_data(a, b, {"weight": 0.0})["weight"]
            graph.add_edge(a, b, weight=old + weight)

        for edge in corpus.relations:
            add(edge.subject, edge.object, 1.0)
        synonyms = dict.fromkeys({(min(a, b), max(a, b), float(w)) for a, b, w in
                                  zip(*retriever.synonyms, strict=True)})
        for a, b, w in synonyms:
            add(a, b, w)
        pairs = set(corpus.mentions) | {(f.chunk, e) for f in corpus.facts for e in f.entities}
        for chunk, entity in pairs:
            add(walk.entities + chunk, entity, 1.0)
        expected = nx.pagerank(graph, alpha=0.5, weight="weight", tol=1e-12, max_iter=500,
                               personalization=dict(enumerate(start.tolist())))

        assert synonyms  # "A. Draveth" and "Anika Draveth" are joined at this threshold
        assert np.allclose(mass, [expected[n] for n in range(len(mass))], atol=1e-6)
        power = walk.personalized(start / start.sum(), 0.5, 200, 1e-12)
        assert np.allclose(mass, power, atol=1e-6)
        rough = walk.pushed(start / start.sum(), 0.5, 1e-3)  # cheaper, and off by little
        assert np.abs(rough - mass).max() < 1e-2


def test_hipporag2_ablations_change_what_they_say(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        store.upsert(hipporag_batch())
        context = RetrievalContext(store)
        full = make_retriever("hipporag2", store, context=context, synonymy_threshold=0.5)
        no_synonyms = make_retriever("hipporag2", store, context=context, synonymy=False)
        no_passages = make_retriever("hipporag2", store, context=context, passage_nodes=False)
        ner = make_retriever("hipporag2", store, context=context, seeding="ner")
        facts = make_retriever("hipporag2", store, context=context, seeding="facts")
        for retriever in (full, no_synonyms, no_passages, ner, facts):
            retriever.warm_up()

        assert len(full.synonyms[0]) > 0 and len(no_synonyms.synonyms[0]) == 0
        assert full.walk.transition.nnz > no_synonyms.walk.transition.nnz
        assert no_passages.walk.transition.shape[0] == len(full.corpus.entity_ids)
        assert _ids(no_passages.retrieve(QUESTION, 2)) == ["velmora", "quillon"]
        linked = ner.entity_weights(QUESTION, [])
        assert [full.corpus.entity_names[e] for e in linked] == ["Velmora Studios"]
        vector = full.context.encode(QUESTION)
        by_facts = facts.entity_weights(QUESTION, facts.match_facts(QUESTION, vector))
        both = full.entity_weights(QUESTION, full.match_facts(QUESTION, vector))
        assert set(both) == set(by_facts) | set(linked)
        # A question naming no entity: NER seeding has nothing, so the ranking is dense's.
        paraphrase = "Which village by the sea was home to a young girl?"
        dense = make_retriever("dense", store, context=context).retrieve(paraphrase, 3)
        assert _ids(ner.retrieve(paraphrase, 3)) == _ids(dense)


@pytest.mark.slow  # rebuilds every index
def test_hipporag2_indexes_follow_the_store_like_a_fresh_build(tmp_path):
    """Extract more, delete some: the fact, chunk and entity vectors embed only what is new,
    and the ranking equals that of a store built fresh with the same documents."""
    questions = [QUESTION, "Who signed the letters?", "Who grew up in Dublin?"]
    grown = tmp_path / "grown"
    with open_store(str(grown)) as store:
        store.upsert(hipporag_batch(["velmora", "marlo", "letters"]))
        _rankings(store, questions)
        store.upsert(hipporag_batch(["quillon", "corvane"]))
        context = RetrievalContext(store)
        incremental = _rankings(store, questions, context)
        # New: Quillon, Ida Merrow, Dublin; Anika Draveth was embedded with the first batch.
        assert context.vectors("entities").embedded == 3
        assert context.vectors("chunks").embedded == 2
    with open_store(str(tmp_path / "fresh")) as store:
        store.upsert(hipporag_batch())
        _assert_same(_rankings(store, questions), incremental)

    with open_store(str(grown)) as store:
        store.query("MATCH (d:Document {external_id: 'letters'})-[:HAS_CHUNK]->(c:Chunk) "
                    "DETACH DELETE c, d", write=True)
        store.query("MATCH (e:Entity) WHERE e.name IN ['A. Draveth', 'letters'] "
                    "DETACH DELETE e", write=True)
        context = RetrievalContext(store)
        shrunk = _rankings(store, questions, context)
        assert context.vectors("entities").dropped == 2
        assert all("letters" not in [key for key, _ in ranking] for ranking in shrunk)
    with open_store(str(tmp_path / "fresh-shrunk")) as store:
        store.upsert(hipporag_batch(["velmora", "quillon", "marlo", "corvane"]))
        _assert_same(_rankings(store, questions), shrunk)


def _rankings(store, questions, context=None, **options):
    retriever = make_retriever("hipporag2", store, context=context or RetrievalContext(store),
                               synonymy_threshold=0.5, **options)
    return [[(hit.external_id, round(hit.score, 6)) for hit in retriever.retrieve(q, 5)]
            for q in questions]


def _assert_same(rankings, expected, tolerance: float = 1e-4) -> None:
    assert [[key for key, _ in r] for r in rankings] == [[key for key, _ in r] for r in expected]
    for got, want in zip(rankings, expected, strict=True):
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=tolerance)


@pytest.mark.neo4j
def test_hipporag2_ranks_alike_on_both_stores(tmp_path, neo4j_store):
    questions = [QUESTION, "Who signed the letters?", "Who grew up in Dublin?"]
    neo4j_store.upsert(hipporag_batch())
    with open_store(str(tmp_path / "store")) as ladybug:
        ladybug.upsert(hipporag_batch())
        embedded = _rankings(ladybug, questions)
        walk = _rankings(ladybug, questions, dense_weight=0.0)
    # Neo4j reports cosines through its own float path, and the push stops at epsilon 1e-4:
    # the rankings are the same, the walk's masses equal to within a few times epsilon. The
    # default final score magnifies those differences (mass ** 0.25 on small masses, cosines
    # min-max rescaled over a handful of passages), so only its order is compared.
    _assert_same(_rankings(neo4j_store, questions, dense_weight=0.0), walk, tolerance=5e-3)
    _assert_same(_rankings(neo4j_store, questions), embedded, tolerance=1.0)


def test_hipporag2_rejects_bad_options_and_needs_an_llm_to_filter(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        for bad in ({"damping": 1.0}, {"facts": 0}, {"seeding": "names"},
                    {"passage_weight": -1.0}, {"fact_filter": "judge"}):
            with pytest.raises(ConfigError):
                make_retriever("hipporag2", store, **bad)
        with pytest.raises(ConfigError, match="needs an LLM"):
            make_retriever("hipporag2", store, fact_filter="llm")


def test_hipporag2_llm_filter_keeps_what_the_llm_chose(tmp_path):
    from kgx.llm.managed import ManagedLLM
    from kgx.testing.fake_llm import FakeLLM

    with open_store(str(tmp_path / "store")) as store:
        store.upsert(hipporag_batch())
        dropping_all = ManagedLLM(FakeLLM(['{"facts": []}'] * 3))
        retriever = make_retriever("hipporag2", store, llm=dropping_all, fact_filter="llm",
                                   seeding="facts")
        dense = make_retriever("dense", store).retrieve(QUESTION, 3)

        assert _ids(retriever.retrieve(QUESTION, 3)) == _ids(dense)  # no fact kept: dense
        keeping_first = ManagedLLM(FakeLLM(['{"facts": [1]}']))
        kept = make_retriever("hipporag2", store, llm=keeping_first, fact_filter="llm")
        kept.warm_up()
        matched = kept.match_facts(QUESTION, kept.context.encode(QUESTION))
        assert [kept.corpus.facts[f].text for f, _ in matched] == [
            "Velmora Studios founded by Anika Draveth"]


def test_fact_quality_drops_facts_that_cannot_stand_for_a_passage():
    from kgx.retrieval.corpus import CorpusChunk, Fact, RetrievalCorpus
    from kgx.retrieval.hipporag2 import fact_quality

    long_text = "Ada Lovelace " + " ".join(["wrote"] * 25) + " notes"
    corpus = RetrievalCorpus(
        chunks=[CorpusChunk("c", "d", "text")], entity_ids=["a", "b"],
        entity_names=["Ada Lovelace", "William King"], entity_aliases=[(), ()], mentions=[],
        relations=[], facts=[
            Fact("f1", "Ada Lovelace marry William King", 0, (0, 1), "relation"),
            Fact("f2", "Ada Lovelace is Ada Lovelace", 0, (0,), "relation"),
            Fact("f3", "Ada Lovelace William King", 0, (0, 1), "relation"),
            Fact("f4", long_text, 0, (0,), "proposition"),
            Fact("f5", "Ada Lovelace wrote the first program.", 0, (0,), "proposition")])
    assert fact_quality(corpus).tolist() == [True, False, False, False, True]
