"""The contract every `GraphStore` passes; a backend's test module subclasses `GraphStoreContract`.

    class TestLadybugStore(GraphStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            with LadybugStore(tmp_path / "g") as s:
                yield s
"""

from __future__ import annotations

import pytest

from kgx.errors import ReadOnlyQueryError, StoreError
from kgx.graphdb.protocol import GraphStore, RunRecord
from kgx.models import Entity, GraphBatch
from kgx.testing.graphs import EXTRACTOR, ada_batch
from kgx.testing.lifecycle_contract import DocumentLifecycleContract

EXPECTED_COUNTS = {
    "Document": 2, "Chunk": 2, "Entity": 4, "Proposition": 1, "HAS_CHUNK": 2, "MENTIONS": 5,
    "RELATION": 3, "FROM_CHUNK": 1, "ABOUT": 2,
}


class GraphStoreContract(DocumentLifecycleContract):
    """Behaviour shared by every store, run against the real database."""

    def test_store_satisfies_protocol(self, store):
        assert isinstance(store, GraphStore)

    def test_store_upsert_is_idempotent(self, store):
        store.upsert(ada_batch())
        assert store.counts() == EXPECTED_COUNTS
        store.upsert(ada_batch())
        assert store.counts() == EXPECTED_COUNTS

    def test_store_schema_paths(self, store):
        store.upsert(ada_batch())
        rows = store.query(
            "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk)-[:MENTIONS]->(e:Entity) "
            "WHERE d.title = $title RETURN e.name ORDER BY e.name", {"title": "Babbage"}).rows
        assert rows == [["Analytical Engine"], ["Charles Babbage"]]
        rows = store.query(
            "MATCH (p:Proposition)-[:FROM_CHUNK]->(:Chunk), (p)-[:ABOUT]->(e:Entity) "
            "RETURN e.name ORDER BY e.name").rows
        assert rows == [["Ada Lovelace"], ["Charles Babbage"]]

    def test_store_relation_keeps_provenance(self, store):
        batch = ada_batch()
        store.upsert(batch)
        record = store.query(
            "MATCH (a:Entity)-[r:RELATION]->(b:Entity) WHERE r.predicate = $p "
            "RETURN a.name, b.name, r.doc_id, r.chunk_id, r.start_char, r.end_char, r.extractor, "
            "r.extractor_version, r.model, r.prompt_version, r.run_id, r.confidence, r.evidence",
            {"p": "designed"}).records()
        assert record == [{
            "a.name": "Charles Babbage", "b.name": "Analytical Engine",
            "r.doc_id": batch.documents[1].id, "r.chunk_id": batch.chunks[1].id,
            "r.start_char": 0, "r.end_char": 47, "r.extractor": EXTRACTOR,
            "r.extractor_version": "1", "r.model": "handmade", "r.prompt_version": "none.v1",
            "r.run_id": "run_test", "r.confidence": 0.9,
            "r.evidence": "Charles Babbage designed the Analytical Engine.",
        }]

    def test_store_aliases_are_merged_never_lost(self, store):
        store.upsert(ada_batch())
        store.upsert(GraphBatch(entities=[Entity(name="Ada Lovelace", type="PERSON",
                                                 aliases=("Countess of Lovelace",))]))
        aliases = store.query("MATCH (e:Entity {name: $n}) RETURN e.aliases",
                              {"n": "Ada Lovelace"}).scalar()
        assert aliases == ["Ada", "Countess of Lovelace"]

    def test_store_entities_round_trip(self, store):
        batch = ada_batch()
        store.upsert(batch)
        assert {e.id for e in store.entities()} == {e.id for e in batch.entities}

    def test_store_queries_are_read_only_by_default(self, store):
        store.upsert(ada_batch())
        with pytest.raises(ReadOnlyQueryError):
            store.query("MATCH (e:Entity) SET e.name = 'x'")
        store.query("MATCH (e:Entity {name: $n}) SET e.type = $t",
                    {"n": "Ada Lovelace", "t": "HUMAN"}, write=True)
        assert store.query("MATCH (e:Entity {name: 'Ada Lovelace'}) RETURN e.type").scalar() \
            == "HUMAN"

    def test_store_parameters_are_bound_not_pasted(self, store):
        store.upsert(ada_batch())
        hostile = "x' OR 1=1 //"
        rows = store.query("MATCH (e:Entity) WHERE e.name = $n RETURN e.name", {"n": hostile})
        assert rows.rows == []
        assert store.counts()["Entity"] == 4

    def test_store_completed_documents_and_runs(self, store):
        batch = ada_batch()
        assert store.completed_documents(EXTRACTOR) == set()
        store.upsert(batch)
        assert store.completed_documents(EXTRACTOR) == {d.id for d in batch.documents}
        assert store.completed_documents("other.v1") == set()
        store.save_run(RunRecord(id="r1", extractor=EXTRACTOR, status="running",
                                 started_at="2026-01-01T00:00:00+00:00"))
        failed = '[{"chunk_id": "chk_1", "step": "direct.graph.v1", "error": "cut off"}]'
        store.save_run(RunRecord(id="r1", extractor=EXTRACTOR, status="complete",
                                 started_at="2026-01-01T00:00:00+00:00", documents=2,
                                 failures=failed, retried='["chk_0"]'))
        assert [(r.id, r.status, r.documents, r.failures, r.retried)
                for r in store.runs(EXTRACTOR)] == [("r1", "complete", 2, failed, '["chk_0"]')]

    def test_store_failed_batch_writes_nothing(self, store):
        store.upsert(ada_batch())
        before = store.counts()
        bad = GraphBatch(entities=[Entity(name="Grace Hopper", type="PERSON")],
                         mentions=[("chk_missing", Entity(name="Grace Hopper", type="PERSON").id)])
        with pytest.raises(StoreError):
            store.upsert(bad)
        assert store.counts() == before

    def test_store_unicode_and_quotes_survive(self, store):
        name = "Émilie du Châtelet's \"Institutions\" 北京"
        store.upsert(GraphBatch(entities=[Entity(name=name, type="WORK_OF_ART")]))
        assert store.query("MATCH (e:Entity {type: 'WORK_OF_ART'}) RETURN e.name").scalar() == name

