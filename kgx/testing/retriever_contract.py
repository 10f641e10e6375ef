"""The contract every `Retriever` passes: shape, ranking, bounds and clear errors.

Subclass it in a test module and provide a class-scoped `retriever` fixture over
`contract_store(path)`:

    class TestBM25Contract(RetrieverContract):
        @pytest.fixture(scope="class")
        @classmethod
        def retriever(cls, tmp_path_factory):
            with contract_store(tmp_path_factory.mktemp("s")) as store:
                yield make_retriever("bm25", store)

What a retriever finds is its own test's business; the contract checks what every caller relies
on: at most `top_k` distinct chunks of the store, best first, and an error that says what to
pass for an empty question or a bad `top_k`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgx.errors import ConfigError, InputError
from kgx.graphdb import GraphStore, open_store
from kgx.models import Entity
from kgx.retrieval.protocol import RetrievedChunk, Retriever
from kgx.testing.graphs import passages_batch

QUESTION = "Who wrote the first program for the Analytical Engine?"
_ENTITIES = {name: Entity(name=name, type=kind) for name, kind in [
    ("Ada Lovelace", "PERSON"), ("Charles Babbage", "PERSON"), ("Analytical Engine", "WORK"),
    ("London", "GPE"), ("first program", "WORK")]}
PASSAGES = {
    "ada": ("Ada Lovelace", "Ada Lovelace wrote the first program for the Analytical Engine.",
            [("Ada Lovelace", "wrote", "first program")],
            [("Ada Lovelace wrote the first program.", ("Ada Lovelace", "first program"))]),
    "babbage": ("Charles Babbage", "Charles Babbage designed the Analytical Engine in London.",
                [("Charles Babbage", "designed", "Analytical Engine")],
                [("Charles Babbage designed the Analytical Engine.",
                  ("Charles Babbage", "Analytical Engine"))]),
    "london": ("London", "London is where Charles Babbage lived and worked.",
               [("Charles Babbage", "lived in", "London")], []),
}


@contextlib.contextmanager
def contract_store(path: Path) -> Iterator[GraphStore]:
    """An embedded store at `path` holding the contract's three passages."""
    with open_store(str(path / "store")) as store:
        store.upsert(passages_batch(PASSAGES, _ENTITIES, "test.contract.v1"))
        yield store


def cypher_replies(request) -> str:
    """A valid Text2Cypher reply for `kgx.testing.fake_llm.FakeLLM`: the chunks naming Ada."""
    return ('{"cypher": "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) WHERE e.name = '
            "'Ada Lovelace' RETURN c.id AS chunk_id, e.name AS name LIMIT 5\"}")


class RetrieverContract:
    """Shared tests; subclasses provide a class-scoped `retriever` fixture."""

    @pytest.fixture(scope="class")
    @classmethod
    def hits(cls, retriever) -> list[RetrievedChunk]:
        retriever.warm_up()
        retriever.warm_up()  # a second warm-up is a no-op
        return retriever.retrieve(QUESTION, top_k=2)

    def test_contract_satisfies_the_protocol_by_shape(self, retriever):
        assert isinstance(retriever, Retriever)
        assert retriever.name

    def test_contract_at_most_top_k_distinct_chunks_best_first(self, hits):
        assert 1 <= len(hits) <= 2
        assert all(isinstance(hit, RetrievedChunk) for hit in hits)
        assert len({hit.chunk_id for hit in hits}) == len(hits)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)

    def test_contract_hits_are_chunks_of_the_store(self, retriever, hits):
        texts = {text for _, text, *_ in PASSAGES.values()}
        for hit in hits:
            assert hit.text in texts and hit.doc_id and hit.chunk_id

    def test_contract_bad_requests_say_what_to_pass(self, retriever):
        with pytest.raises(InputError, match="question is empty"):
            retriever.retrieve("  ", top_k=2)
        with pytest.raises(ConfigError, match="top_k"):
            retriever.retrieve(QUESTION, top_k=0)
