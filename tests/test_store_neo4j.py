"""Neo4jStore against a real Neo4j 5.26 server: the shared contract plus Neo4j specifics."""

from __future__ import annotations

import pytest

from kgx.errors import StoreError
from kgx.graphdb.neo4j_store import Neo4jStore
from kgx.testing.store_contract import GraphStoreContract

pytestmark = pytest.mark.neo4j


class TestNeo4jStore(GraphStoreContract):
    @pytest.fixture
    def store(self, neo4j_store):
        return neo4j_store


def test_neo4j_store_creates_constraints_on_connect(neo4j_store):
    names = {row[0] for row in neo4j_store.query("SHOW CONSTRAINTS YIELD name RETURN name").rows}
    assert {"kgx_document_id", "kgx_chunk_id", "kgx_entity_id", "kgx_proposition_id"} <= names
    indexes = {row[0] for row in neo4j_store.query("SHOW INDEXES YIELD name RETURN name").rows}
    assert {"kgx_relation_id", "kgx_relation_predicate", "kgx_entity_name"} <= indexes


def test_neo4j_store_wrong_password_is_a_clear_error(neo4j_uri):
    with pytest.raises(StoreError, match="credentials"):
        Neo4jStore(neo4j_uri, password="definitely-wrong").connect()


def test_neo4j_store_unreachable_server_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot reach Neo4j"):
        Neo4jStore("bolt://127.0.0.1:9", password="x").connect()


def test_neo4j_store_large_batch_spans_transactions_and_marks_done_last(neo4j_store, monkeypatch):
    from kgx.graphdb import neo4j_store as module
    from kgx.testing.graphs import EXTRACTOR, ada_batch
    from kgx.testing.store_contract import EXPECTED_COUNTS

    monkeypatch.setattr(module, "SUB_BATCH_ROWS", 2)
    monkeypatch.setattr(module, "TX_ROWS", 3)
    batch = ada_batch()
    assert len(module._transactions(module._steps(module.batch_rows(batch)))) > 3
    neo4j_store.upsert(batch)
    neo4j_store.upsert(batch)
    assert neo4j_store.counts() == EXPECTED_COUNTS
    assert neo4j_store.completed_documents(EXTRACTOR) == {d.id for d in batch.documents}
