"""The contract every `Extractor` passes: shape, order, versioned names and provenance.

Subclass it in a test module and provide a class-scoped `extractor` fixture:

    class TestSpacyContract(ExtractorContract):
        @pytest.fixture(scope="class")
        @classmethod
        def extractor(cls):
            return get_extractor("spacy")

The checks hold for any extractor, whatever it finds: one extraction per chunk in order, and
every fact carrying its document, chunk, a span inside the chunk, the extractor's name and
version, and the run id. LLM extractors are checked through `fact_replies`, a fake backend
that answers every prompt of kgx's extractors with facts about the contract's passages.
"""

from __future__ import annotations

import json
import re

import pytest

from kgx.chunking import chunk_document
from kgx.extractors.protocol import Extractor
from kgx.llm.types import LLMRequest
from kgx.models import Chunk, Document

PASSAGES = (
    "Ada Lovelace worked with Charles Babbage in London. She wrote the first program.",
    "Charles Babbage designed the Analytical Engine. Ada Lovelace described it in 1843.",
)
RUN_ID = "run_contract"
_VERSIONED = re.compile(r"\.v\d+$")


def contract_chunks() -> list[Chunk]:
    """One chunk per passage, each from its own document, at an offset inside it."""
    chunks = []
    for index, text in enumerate(PASSAGES):
        document = Document(source=f"contract-{index}.txt", text="Preface. " + text)
        chunks += chunk_document(document, max_tokens=256)
    return chunks


def fact_replies(request: LLMRequest) -> str:
    """A well-formed reply to any prompt of kgx's LLM extractors, naming people of PASSAGES.

    For `kgx.testing.fake_llm.FakeLLM`: `FakeLLM([fact_replies] * n)`.
    """
    people = ["Ada Lovelace", "Charles Babbage"]
    fact = "Ada Lovelace worked with Charles Babbage."
    if request.response_model is None:  # the student's v2 reply: numbered lines, no schema
        from kgx.distill.format import lines_target

        return lines_target(people, [(people[0], "worked with", people[1])],
                            text=request.messages[-1].content)
    fields = set(request.response_model.model_fields)
    if fields == {"text"}:  # SynthKG's rewrite: the passage as it is
        return json.dumps({"text": _passage(request.prompt_text())})
    if fields == {"entities"}:
        return json.dumps({"entities": [{"name": p, "type": "PERSON"} for p in people]})
    if fields == {"propositions"}:
        return json.dumps({"propositions": [{"text": fact, "quadruples": [
            {"source": people[0], "predicate": "worked with", "target": people[1]}]}]})
    if fields == {"entities", "triples"}:
        return json.dumps({"entities": [{"name": p, "type": "PERSON"} for p in people],
                           "triples": [{"subject": people[0], "predicate": "worked with",
                                        "object": people[1]}]})
    if fields == {"groups"}:
        return json.dumps({"groups": [{"sentence": 1, "propositions": [fact]}]})
    if fields == {"entities", "triples", "propositions"}:  # the student's compact reply
        return json.dumps({"entities": people, "triples": [[people[0], "worked with",
                                                            people[1]]],
                           "propositions": [fact]}, separators=(",", ":"))
    raise AssertionError(f"no contract reply for the schema {request.response_model}")


def _passage(prompt: str) -> str:
    match = re.search(r"PASSAGE:\n(.*?)\n\n", prompt, re.DOTALL)
    return match.group(1) if match else prompt


class ExtractorContract:
    """Shared tests; subclasses provide a class-scoped `extractor` fixture."""

    @pytest.fixture(scope="class")
    @classmethod
    def extracted(cls, extractor) -> tuple[list[Chunk], list]:
        extractor.warm_up()
        extractor.warm_up()  # a second warm-up is a no-op
        chunks = contract_chunks()
        return chunks, extractor.extract(chunks, RUN_ID)

    def test_contract_satisfies_the_protocol_by_shape(self, extractor):
        assert isinstance(extractor, Extractor)
        assert _VERSIONED.search(extractor.name), extractor.name
        assert extractor.version

    def test_contract_one_extraction_per_chunk_in_order(self, extracted):
        chunks, results = extracted
        assert [r.chunk_id for r in results] == [c.id for c in chunks]

    def test_contract_finds_something(self, extracted):
        _, results = extracted
        assert any(r.entities for r in results)

    def test_contract_every_fact_has_provenance_inside_its_chunk(self, extractor, extracted):
        chunks, results = extracted
        by_id = {c.id: c for c in chunks}
        facts = [f for r in results for f in (*r.relations, *r.propositions)]
        for result in results:
            chunk = by_id[result.chunk_id]
            for fact in (*result.relations, *result.propositions):
                p = fact.provenance
                assert (p.doc_id, p.chunk_id) == (chunk.doc_id, chunk.id)
                assert chunk.start <= p.start <= p.end <= chunk.end, (p, chunk)
                assert (p.extractor, p.extractor_version) == (extractor.name, extractor.version)
                assert p.run_id == RUN_ID
                assert p.model == extractor.model
        assert facts, "the contract passages state facts every extractor should find"

    def test_contract_no_chunks_no_extractions(self, extractor):
        assert extractor.extract([], RUN_ID) == []
