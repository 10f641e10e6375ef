"""Tests for the extractor registry and the spaCy baseline, with the real packaged small model."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from kgx.chunking import chunk_document
from kgx.errors import ConfigError, MissingExtraError
from kgx.extractors import Extractor, get_extractor, known_extractors
from kgx.extractors.spacy_svo import EXTRACTOR_NAME, SpacyExtractor
from kgx.ingest import read_documents
from kgx.models import Document

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "multihop_50.jsonl"


@pytest.fixture(scope="module")
def extractor() -> SpacyExtractor:
    extractor = SpacyExtractor()
    extractor.warm_up()
    return extractor


def _extract(extractor, text: str, run_id: str = "run-1"):
    doc = Document(text=text, title="t")
    chunks = chunk_document(doc)
    return doc, chunks, extractor.extract(chunks, run_id=run_id)


def _triples(results) -> list[tuple[str, str, str]]:
    return [(r.subject.name, r.predicate, r.object.name) for res in results for r in res.relations]


def test_spacy_svo_extracts_founded_relation_between_named_entities(extractor):
    _, _, results = _extract(extractor, "John De Margheriti founded BigWorld in Canberra.")

    [relation] = [r for r in results[0].relations if r.object.name == "BigWorld"]
    assert "Margheriti" in relation.subject.name
    assert "found" in relation.predicate
    assert (relation.subject.type, relation.object.type) == ("PERSON", "ORG")
    assert relation.confidence == 0.9


def test_spacy_svo_provenance_points_at_the_sentence_in_the_document(extractor):
    text = ("Ada Lovelace was born in London. She met Charles Babbage in 1833.\n\n"
            "John De Margheriti founded BigWorld in Canberra.")
    doc, chunks, results = _extract(extractor, text, run_id="run-42")

    relations = [r for res in results for r in res.relations]
    assert relations
    for relation in relations:
        p = relation.provenance
        assert doc.text[p.start:p.end] == relation.evidence
        assert relation.subject.name in relation.evidence
        assert (p.doc_id, p.extractor, p.model, p.prompt_version, p.run_id) == (
            doc.id, "spacy.svo.v1", "en_core_web_sm", None, "run-42")
        assert p.chunk_id in {c.id for c in chunks}
        assert p.extractor_version == extractor.version
    assert extractor.version.startswith("spacy-3.") and "/en_core_web_sm-" in extractor.version
    assert {r.evidence for r in relations} >= {"Ada Lovelace was born in London.",
                                               "John De Margheriti founded BigWorld in Canberra."}


def test_spacy_svo_provenance_uses_document_offsets_past_the_first_chunk(extractor):
    text = " ".join(["Marie Curie was born in Warsaw."] * 60) + " Pierre Curie married Marie Curie."
    doc = Document(text=text)
    chunks = chunk_document(doc, max_tokens=64)
    assert len(chunks) > 2

    results = extractor.extract(chunks, run_id="r")

    last = results[-1].relations[-1]
    assert last.provenance.start > chunks[-1].start >= chunks[1].start > 0
    assert doc.text[last.provenance.start:last.provenance.end] == last.evidence


def test_spacy_svo_passive_participle_and_copula_attribute(extractor):
    _, _, results = _extract(
        extractor, "Marie Curie was born in Warsaw. Hotel by the Hour is a 1946 German comedy "
                   "film directed by Josef von Báky. Sky Dayton is the founder of EarthLink.")

    triples = _triples(results)
    assert ("Marie Curie", "born in", "Warsaw") in triples
    assert any(p == "directed by" and o == "Josef von Báky" for _, p, o in triples)
    assert ("Sky Dayton", "is founder of", "EarthLink") in triples


def test_spacy_svo_conjoined_subjects_give_one_relation_each(extractor):
    _, _, results = _extract(
        extractor, "Barbet Schroeder and Éric Rohmer founded Les Films du Losange in Paris.")

    founders = {s for s, p, o in _triples(results) if p == "found" and o == "Les Films du Losange"}
    assert founders == {"Barbet Schroeder", "Éric Rohmer"}


def test_spacy_svo_skips_pronoun_endpoints_and_number_labels(extractor):
    _, _, results = _extract(extractor, "He founded BigWorld. She scored 3 goals in 2 matches.")

    assert results[0].relations == []
    assert {e.type for e in results[0].entities}.isdisjoint({"CARDINAL", "QUANTITY", "ORDINAL"})


def test_spacy_svo_noun_chunk_endpoints_are_concepts_with_lower_confidence(extractor):
    _, _, results = _extract(extractor, "The old company makes games.")

    [relation] = results[0].relations
    assert (relation.subject.name, relation.predicate, relation.object.name) == (
        "old company", "make", "games")
    assert relation.subject.type == relation.object.type == "CONCEPT"
    assert relation.confidence == 0.6


def test_spacy_svo_relation_endpoints_are_chunk_entities(extractor):
    _, _, results = _extract(extractor, "Curie won the Nobel Prize in Physics in 1903. "
                                        "The old company makes games.")

    for result in results:
        entity_ids = {e.id for e in result.entities}
        assert len(entity_ids) == len(result.entities)
        for relation in result.relations:
            assert {relation.subject.id, relation.object.id} <= entity_ids


def test_spacy_svo_returns_one_result_per_chunk_in_order(extractor):
    docs = [Document(text=t) for t in ("Hello there.", "Ada Lovelace was born in London.", "Ok.")]
    chunks = [c for d in docs for c in chunk_document(d)]

    results = extractor.extract(chunks, run_id="r")

    assert [r.chunk_id for r in results] == [c.id for c in chunks]
    assert results[0].relations == [] and results[1].relations
    assert extractor.extract([], run_id="r") == []


def test_spacy_svo_output_is_deterministic(extractor):
    text = FIXTURE.read_text(encoding="utf-8").splitlines()[0]
    doc = Document(text=json.loads(text)["text"])
    chunks = chunk_document(doc)

    first = extractor.extract(chunks, run_id="r")
    second = SpacyExtractor(batch_size=1).extract(chunks, run_id="r")

    assert [r.model_dump() for r in first] == [r.model_dump() for r in second]


def test_spacy_svo_finds_many_entities_and_relations_in_the_multihop_fixture(extractor):
    documents = read_documents([FIXTURE]).documents
    by_id = {d.id: d for d in documents}
    chunks = [c for d in documents for c in chunk_document(d)]

    results = extractor.extract(chunks, run_id="r")

    entities = {e.id for r in results for e in r.entities}
    relations = [rel for r in results for rel in r.relations]
    # spaCy 3.8 / en_core_web_sm 3.8.0 finds 510 distinct entities and 190 relations, 47 of
    # them between two named entities; the floors leave room for model updates.
    assert len(entities) > 400
    assert len(relations) > 150
    assert sum(r.confidence == 0.9 for r in relations) > 35
    for relation in relations:
        p = relation.provenance
        assert by_id[p.doc_id].text[p.start:p.end] == relation.evidence


def test_spacy_svo_constructor_does_no_io_and_missing_model_names_the_extra():
    extractor = SpacyExtractor(package="kgx_no_such_model_package")

    with pytest.raises(MissingExtraError, match=r"pip install 'kgx-graph\[spacy\]'"):
        extractor.warm_up()


def test_spacy_svo_rejects_a_batch_size_below_one():
    with pytest.raises(ConfigError, match="batch_size"):
        SpacyExtractor(batch_size=0)


def test_extractors_registry_builds_spacy_by_name_and_alias():
    by_alias, by_name = get_extractor("spacy", batch_size=8), get_extractor("spacy.svo.v1")

    assert isinstance(by_alias, SpacyExtractor) and isinstance(by_name, SpacyExtractor)
    assert by_alias.batch_size == 8
    assert by_name.name == EXTRACTOR_NAME == "spacy.svo.v1"
    assert isinstance(by_name, Extractor)


def test_extractors_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown extractor 'nope'; known extractors: .*\bspacy, "
                                          r"spacy\.svo\.v1, .*\bsynthkg\b"):
        get_extractor("nope")


def test_extractors_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="batchsize"):
        get_extractor("spacy", batchsize=8)


def test_extractors_plugins_come_from_entry_points(monkeypatch):
    target = "kgx.extractors.spacy_svo:SpacyExtractor"
    plugins = [EntryPoint("acme.svo.v1", target, "kgx.extractors"),
               EntryPoint("spacy.svo.v1", "acme:Hijack", "kgx.extractors")]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: plugins)

    known = known_extractors()

    assert known["acme.svo.v1"] == target
    assert known["spacy.svo.v1"] == target  # a plugin cannot take over a built-in name
    assert isinstance(get_extractor("acme.svo.v1"), SpacyExtractor)


def test_extractors_import_and_construction_stay_free_of_spacy():
    code = ("import sys, kgx.ingest, kgx.chunking, kgx.extractors; "
            "e = kgx.extractors.get_extractor('spacy'); e.version; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('spacy', 'thinc')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)

    assert out.stdout.strip() == "[]"
