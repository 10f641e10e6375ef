"""SynthKG, direct and APS extractors: exact orchestration with the fake LLM, on the real store."""

from __future__ import annotations

import json

import pytest

from kgx.errors import LLMOutputError
from kgx.extractors import get_extractor, takes_llm
from kgx.extractors.direct import DirectExtractor
from kgx.extractors.prompts import (
    APS_GROUPED,
    DIRECT_GRAPH,
    SYNTHKG_DECONTEXTUALIZE,
    SYNTHKG_ENTITIES,
    SYNTHKG_PROPOSITIONS,
)
from kgx.extractors.propositions import PropositionSegmenter
from kgx.extractors.synthkg import SynthKGExtractor, rouge1_f1
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.llm.managed import ManagedLLM
from kgx.models import Chunk, Document
from kgx.pipeline import ExtractConfig, extract_corpus
from kgx.testing.fake_llm import FakeLLM

FIRST = "Ada Lovelace was born in London in 1815."
SECOND = "She wrote the first program for the Analytical Engine."
DOC = Document(title="Ada", text=f"{FIRST} {SECOND}")


def two_chunks() -> list[Chunk]:
    second_start = len(FIRST) + 1
    return [Chunk(doc_id=DOC.id, index=0, text=FIRST, start=0, end=len(FIRST), n_tokens=9),
            Chunk(doc_id=DOC.id, index=1, text=SECOND, start=second_start,
                  end=second_start + len(SECOND), n_tokens=10)]


def step(request) -> str:
    """Which prompt template a request comes from."""
    for template in (SYNTHKG_DECONTEXTUALIZE, SYNTHKG_ENTITIES, SYNTHKG_PROPOSITIONS,
                     DIRECT_GRAPH, APS_GROUPED):
        if request.response_model is template.reply and request.messages[0].content == \
                template.system:
            return template.name
    raise AssertionError(f"unknown request {request}")


def synthkg_replies(rewrite: str):
    """A scripted teacher: each reply depends on the step and the chunk's text."""
    def reply(request) -> str:
        prompt = request.messages[-1].content
        name = step(request)
        if name == SYNTHKG_DECONTEXTUALIZE.name:
            return json.dumps({"text": rewrite})
        if name == SYNTHKG_ENTITIES.name:
            if "London" in prompt:
                return json.dumps({"entities": [{"name": "Ada Lovelace", "type": "PERSON"},
                                                {"name": "London", "type": "GPE"}]})
            return json.dumps({"entities": [{"name": "Ada Lovelace", "type": "PERSON"},
                                            {"name": "Analytical Engine", "type": "PRODUCT"}]})
        if "London" in prompt:
            return json.dumps({"propositions": [{"text": "Ada Lovelace was born in London.",
                                                 "quadruples": [{"source": "Ada Lovelace",
                                                                 "predicate": "born in",
                                                                 "target": "London"}]}]})
        return json.dumps({"propositions": [{
            "text": "Ada Lovelace wrote the first program for the Analytical Engine.",
            "quadruples": [{"source": "Lovelace, Ada", "predicate": "wrote a program for",
                            "target": "Analytical Engine"},
                           {"source": "", "predicate": "x", "target": "y"}]}]})
    return reply


def test_synthkg_rouge1_f1():
    assert rouge1_f1("Ada wrote code", "Ada wrote code") == 1.0
    assert rouge1_f1("Ada wrote code", "Bob ate fish") == 0.0
    assert rouge1_f1("a b c d", "a b c e") == pytest.approx(0.75)


def test_synthkg_keeps_a_close_rewrite_and_calls_3n_minus_1_times():
    rewrite = "Ada Lovelace wrote the first program for the Analytical Engine."
    fake = FakeLLM([synthkg_replies(rewrite)] * 5)
    extractor = SynthKGExtractor(ManagedLLM(fake))
    first, second = extractor.extract(two_chunks(), run_id="r1")
    assert [step(r) for r in fake.requests] == [
        SYNTHKG_DECONTEXTUALIZE.name, SYNTHKG_ENTITIES.name, SYNTHKG_ENTITIES.name,
        SYNTHKG_PROPOSITIONS.name, SYNTHKG_PROPOSITIONS.name]
    decontext = fake.requests[0].messages[-1].content
    assert FIRST in decontext and SECOND in decontext  # the previous chunk is the context
    assert rewrite in fake.requests[2].messages[-1].content  # entities read the rewrite
    assert extractor.rewrites == {"kept": 1, "none": 1}
    [relation] = second.relations
    assert (relation.subject.name, relation.object.name) == ("Ada Lovelace", "Analytical Engine")
    assert relation.subject.type == "PERSON"  # "Lovelace, Ada" matched the typed entity
    [proposition] = second.propositions
    assert relation.proposition_id == proposition.id
    assert {e.name for e in proposition.entities} == {"Ada Lovelace", "Analytical Engine"}
    where = relation.provenance
    assert (where.extractor, where.model, where.prompt_version) == (
        "synthkg.v1", "fake", "synthkg.relations.v1")
    assert (where.start, where.end) == (two_chunks()[1].start, two_chunks()[1].end)
    assert first.relations[0].predicate == "born in"


def test_synthkg_drops_a_rewrite_below_rouge1_070():
    fake = FakeLLM([synthkg_replies("Charles Babbage designed engines in 1834.")] * 5)
    extractor = SynthKGExtractor(ManagedLLM(fake))
    extractor.extract(two_chunks(), run_id="r1")
    assert extractor.rewrites == {"dropped": 1, "none": 1}
    assert SECOND in fake.requests[2].messages[-1].content


def test_synthkg_aggregates_a_document_into_one_graph(tmp_path):
    corpus = tmp_path / "ada.txt"
    corpus.write_text(DOC.text)
    fake = FakeLLM([synthkg_replies("unused")] * 3)
    extractor = SynthKGExtractor(ManagedLLM(fake))
    with LadybugStore(tmp_path / "g") as store:
        report = extract_corpus([corpus], store, ExtractConfig(extractor="synthkg"),
                                extractor=extractor)
        counts = store.counts()
        about = store.query("MATCH (p:Proposition)-[:ABOUT]->(e:Entity) "
                            "RETURN p.text AS p, e.name AS name ORDER BY name").rows
    assert report.llm_usage["llm_calls"] == 2  # one chunk: 3n - 1 calls, no decontextualization
    assert counts["Proposition"] == 1 and counts["RELATION"] == 1
    assert [row[1] for row in about] == ["Ada Lovelace", "London"]


def test_synthkg_skip_and_record_goes_on_and_raise_stops(tmp_path):
    def broken_entities(request) -> str:
        return "no json here" if step(request) == SYNTHKG_ENTITIES.name else \
            synthkg_replies("x")(request)

    fake = FakeLLM([broken_entities] * 7)
    extractor = SynthKGExtractor(ManagedLLM(fake, on_error="skip-and-record"))
    first, _ = extractor.extract(two_chunks(), run_id="r1")
    assert [f.step for f in extractor.failures] == [SYNTHKG_ENTITIES.name] * 2
    assert len(fake.requests) == 7  # each broken reply got one repair turn
    assert first.relations and first.relations[0].subject.type == "ENTITY"  # untyped, kept
    strict = SynthKGExtractor(ManagedLLM(FakeLLM([broken_entities] * 7)))
    with pytest.raises(LLMOutputError, match="not valid JSON"):
        strict.extract(two_chunks(), run_id="r1")


def test_direct_one_call_per_chunk():
    graph = {"entities": [{"name": "Ada Lovelace", "type": "PERSON"}],
             "triples": [{"subject": "Ada Lovelace", "predicate": "born in",
                          "object": "London"},
                         {"subject": "Ada Lovelace", "predicate": "is", "object": "ada lovelace"}]}
    fake = FakeLLM([json.dumps(graph)] * 2)
    first, _ = DirectExtractor(ManagedLLM(fake)).extract(two_chunks(), run_id="r1")
    assert len(fake.requests) == 2 and {step(r) for r in fake.requests} == {DIRECT_GRAPH.name}
    [relation] = first.relations  # the self-loop is dropped
    assert (relation.object.name, relation.object.type) == ("London", "ENTITY")
    assert relation.provenance.prompt_version == "direct.graph.v1"


def test_propositions_keep_their_sentence():
    chunk = Chunk(doc_id=DOC.id, index=0, text=DOC.text, start=0, end=len(DOC.text),
                  n_tokens=20)
    reply = json.dumps({"groups": [
        {"sentence": 2, "propositions": ["Ada Lovelace wrote the first program.",
                                         "The program was for the Analytical Engine."]},
        {"sentence": 1, "propositions": ["Ada Lovelace was born in London."]},
        {"sentence": 9, "propositions": ["A sentence the chunk does not have."]}]})
    fake = FakeLLM([reply])
    records = []
    segmenter = PropositionSegmenter(ManagedLLM(fake), on_record=records.append)
    segmenter.warm_up()
    [extraction] = segmenter.extract([chunk], run_id="r1")
    assert "<s>Ada Lovelace was born in London in 1815.</s>\n<s>She wrote" in \
        fake.requests[0].messages[-1].content
    assert [(r.sentence_index, len(r.propositions)) for r in records] == [(1, 1), (2, 2)]
    assert records[0].sentence == FIRST and (records[0].start, records[0].end) == (0, len(FIRST))
    born = extraction.propositions[0]
    assert (born.provenance.start, born.provenance.end) == (0, len(FIRST))
    assert {e.name for e in born.entities} == {"Ada Lovelace", "London"}  # spaCy NER links
    assert len(extraction.propositions) == 3


def test_llm_extractors_are_registered_and_take_an_llm():
    assert takes_llm("synthkg") and takes_llm("direct") and takes_llm("propositions")
    assert not takes_llm("spacy")
    extractor = get_extractor("synthkg", llm=ManagedLLM(FakeLLM()))
    assert extractor.name == "synthkg.v1"
