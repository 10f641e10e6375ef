"""Text2CypherRetriever on both real stores: queued LLM replies, and one real model."""

from __future__ import annotations

import re

import pytest

from kgx.errors import LLMOutputError, ReadOnlyQueryError, StoreError
from kgx.graphdb import open_store
from kgx.llm.managed import ManagedLLM
from kgx.retrieval.protocol import RetrievedChunk, Retriever
from kgx.retrieval.text2cypher import Text2CypherRetriever, guard_query, render_schema
from kgx.testing.fake_llm import FakeLLM, json_reply
from kgx.testing.graphs import ada_batch

DESIGNERS = ("MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.predicate = 'designed' "
             "RETURN s.name AS who, o.name AS what")
BROKEN = "MATCH (e:Entity RETURN e.name AS name"


@pytest.fixture
def store(each_store_uri):
    with open_store(each_store_uri) as graph:
        graph.upsert(ada_batch())
        yield graph


def _retriever(store, *queries: str, on_error: str = "raise", **options):
    fake = FakeLLM([json_reply(cypher=q) for q in queries])
    llm = ManagedLLM(fake, on_error=on_error)
    return Text2CypherRetriever(store, llm, **options), fake


def test_text2cypher_valid_query_maps_entity_rows_to_mentioning_chunks(store):
    retriever, fake = _retriever(store, DESIGNERS)
    assert isinstance(retriever, Retriever) and retriever.name == "text2cypher"
    chunks = retriever.retrieve("Who designed the Analytical Engine?", top_k=5)
    assert [c.title for c in chunks] == ["Babbage", "Ada"]  # Ada's chunk mentions Babbage only
    assert [c.score for c in chunks] == [2.0, 1.0]
    assert chunks[0].evidence == ("Charles Babbage | Analytical Engine",)
    assert chunks[0].external_id == "wiki-2" and "designed" in chunks[0].text
    assert retriever.last_query == f"{DESIGNERS} LIMIT 50"
    assert retriever.last_rows == [{"who": "Charles Babbage", "what": "Analytical Engine"}]
    [attempt] = retriever.last_attempts
    assert attempt.validated and attempt.error is None
    prompt = fake.requests[0].prompt_text()
    assert "(:Entity)-[:RELATION {predicate: STRING" in prompt and '"designed"' in prompt
    assert "Who designed the Analytical Engine?" in prompt


def test_text2cypher_chunk_and_relationship_rows_map_directly(store):
    retriever, _ = _retriever(
        store, "MATCH (c:Chunk) WHERE c.text CONTAINS 'program' RETURN c.id AS id",
        "MATCH (:Entity)-[r:RELATION]->(:Entity) WHERE r.predicate = 'wrote' RETURN r AS fact")
    [chunk] = retriever.retrieve("Which passage mentions a program?")
    assert chunk.title == "Ada" and chunk.evidence == ()  # the row is the chunk's own id
    [chunk] = retriever.retrieve("What did Ada write?")  # a relation's chunk_id provenance
    assert chunk.title == "Ada" and chunk.evidence == ("wrote",)


def test_text2cypher_bad_query_gets_one_retry_with_the_error(store):
    retriever, fake = _retriever(store, BROKEN, DESIGNERS)
    chunks = retriever.retrieve("Who designed the Analytical Engine?")
    assert chunks[0].title == "Babbage"
    first, second = retriever.last_attempts
    assert not first.validated and first.error and second.validated
    fix = fake.requests[1]
    assert [m.role for m in fix.messages] == ["system", "user", "assistant", "user"]
    assert BROKEN in fix.messages[-1].content
    assert first.error in fix.messages[-1].content and "rejected the query" in first.error
    assert retriever.last_query == f"{DESIGNERS} LIMIT 50"


def test_text2cypher_second_failure_raises_or_is_recorded(store):
    retriever, _ = _retriever(store, BROKEN, "MATCH (e:Entity) RETURN $name AS name")
    with pytest.raises(LLMOutputError, match=r"failed twice.*parameters") as raised:
        retriever.retrieve("Who?")
    assert isinstance(raised.value.__cause__, StoreError)
    retriever, _ = _retriever(store, BROKEN, BROKEN, on_error="skip-and-record")
    assert retriever.retrieve("Who?") == []
    assert "failed twice" in retriever.last_error
    assert retriever.failures == [("Who?", retriever.last_error)]
    assert retriever.last_query == f"{BROKEN} LIMIT 50"


@pytest.mark.parametrize("write", [
    "CREATE (e:Entity {id: 'x', name: 'Eve'}) RETURN e.name AS name",
    "MATCH (e:Entity) DETACH DELETE e RETURN count(*) AS n",
    "match (e:Entity) set e.name = 'Eve' return e.name as name",
    "MERGE (e:Entity {id: 'x'}) RETURN e.id AS id",
    "MATCH (e:Entity) CALL { WITH e REMOVE e.type } RETURN e.name AS name",
])
def test_text2cypher_refuses_writes_and_leaves_the_graph_unchanged(store, write):
    before = store.counts()
    names = sorted(r[0] for r in store.query("MATCH (e:Entity) RETURN e.name AS n").rows)
    retriever, fake = _retriever(store, write, write)
    with pytest.raises(LLMOutputError, match="only read queries") as raised:
        retriever.retrieve("Delete everything")
    assert isinstance(raised.value.__cause__, ReadOnlyQueryError)
    assert "only read queries" in fake.requests[1].messages[-1].content
    assert store.counts() == before
    assert sorted(r[0] for r in store.query("MATCH (e:Entity) RETURN e.name AS n").rows) == names


def test_text2cypher_enforces_the_row_limit(store):
    union = ("MATCH (e:Entity) RETURN e.name AS name UNION ALL "
             "MATCH (d:Document) RETURN d.title AS name")
    retriever, _ = _retriever(store, "MATCH (e:Entity) RETURN e.name AS name LIMIT 100", union,
                              row_limit=2)
    retriever.retrieve("Everyone?")
    assert retriever.last_query.endswith("LIMIT 2") and len(retriever.last_rows) == 2
    retriever.retrieve("Everything?")  # LIMIT reaches only the last branch; kgx truncates
    assert retriever.last_query == f"{union} LIMIT 2" and len(retriever.last_rows) == 2


@pytest.mark.parametrize(("query", "expected"), [
    ("MATCH (n) RETURN n.name AS x LIMIT 500;", "MATCH (n) RETURN n.name AS x LIMIT 50"),
    ("MATCH (n) RETURN n.name AS x LIMIT 3", "MATCH (n) RETURN n.name AS x LIMIT 3"),
    ("MATCH (n) RETURN n.name AS x // LIMIT 3", "MATCH (n) RETURN n.name AS x LIMIT 50"),
    ("MATCH (n) WHERE n.name = 'LIMIT 3' RETURN n.name AS x",
     "MATCH (n) WHERE n.name = 'LIMIT 3' RETURN n.name AS x LIMIT 50"),
    ("MATCH (n) WHERE n.name = 'CREATE' RETURN n.name AS x SKIP 2",
     "MATCH (n) WHERE n.name = 'CREATE' RETURN n.name AS x SKIP 2 LIMIT 50"),
])
def test_text2cypher_guard_limits_rows(query, expected):
    assert guard_query(query, 50) == expected


@pytest.mark.parametrize(("query", "problem"), [
    ("", "empty"),
    ("MATCH (n) RETURN n; MATCH (m) DETACH DELETE m", "DETACH"),
    ("MATCH (n) RETURN n.name AS x; MATCH (m) RETURN m.id AS y", "several statements"),
    ("CALL db.labels() YIELD label RETURN label", "CALLs a procedure"),
    ("EXPLAIN MATCH (n) RETURN n.id AS x", "EXPLAIN"),
    ("MATCH (n) WHERE n.name = $name RETURN n.id AS x", "parameters"),
    ("MATCH (n)", "no RETURN"),
    ("MATCH (n) RETURN n.id AS x LIMIT toInteger('3')", "whole number"),
    ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "LOAD"),
])
def test_text2cypher_guard_refuses(query, problem):
    with pytest.raises(StoreError, match=problem):
        guard_query(query, 50)


def test_text2cypher_schema_shows_the_graph_not_bookkeeping():
    schema = render_schema({"Entity.type": ["PERSON"], "RELATION.predicate": []})
    assert "(:Chunk)-[:MENTIONS]->(:Entity)" in schema
    assert "(:Entity {id: STRING, name: STRING, type: STRING, aliases: STRING[]})" in schema
    assert 'Entity.type: "PERSON"' in schema and "RELATION.predicate" not in schema
    assert "Run" not in schema and "run_id" not in schema


def test_text2cypher_real_llm_writes_a_checked_query(tmp_path, llama_server):
    from kgx.llm.openai_http import OpenAICompatibleLLM

    llm = ManagedLLM(OpenAICompatibleLLM(llama_server.model, llama_server.url,
                                         timeout_s=300, max_retries=1),
                     on_error="skip-and-record", max_tokens=160)
    with open_store(str(tmp_path / "store")) as graph:
        graph.upsert(ada_batch())
        before = graph.counts()
        retriever = Text2CypherRetriever(graph, llm)
        chunks = retriever.retrieve("Who designed the Analytical Engine?", top_k=3)
        assert graph.counts() == before
    assert isinstance(chunks, list) and all(isinstance(c, RetrievedChunk) for c in chunks)
    # SmolLM2-135M often writes bad Cypher: assert the machinery, not the answer.
    if retriever.last_error is None:
        assert retriever.last_attempts[-1].validated
        assert re.search(r" LIMIT \d+$", retriever.last_query)
    else:
        assert retriever.failures == [("Who designed the Analytical Engine?",
                                       retriever.last_error)]
        assert all(a.error for a in retriever.last_attempts)
    assert llm.meter.calls >= 1
