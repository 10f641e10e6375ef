"""The evaluation's Cypher on Neo4j gives the same figures as on the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgx.evaluation.mine import essay_graph
from kgx.evaluation.multihop import evaluate_multihop, load_multihop_questions
from kgx.evaluation.teacher import documents_from_store
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.pipeline import ExtractConfig, extract_corpus

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


@pytest.mark.neo4j
def test_evaluation_neo4j_matches_ladybug(neo4j_store, tmp_path):
    passages = FIXTURES / "multihop_passages.jsonl"
    questions = load_multihop_questions(FIXTURES / "multihop_questions.jsonl")
    with LadybugStore(tmp_path / "g") as ladybug:
        extract_corpus([passages], ladybug, ExtractConfig())
        expected = evaluate_multihop(ladybug, questions)
        expected_docs = documents_from_store(ladybug)
    extract_corpus([passages], neo4j_store, ExtractConfig())
    found = evaluate_multihop(neo4j_store, questions)
    assert found.questions_evaluated == expected.questions_evaluated > 0
    for field in ("gold_triples", "extracted_triples", "semantic_score", "coverage", "token_f1"):
        assert getattr(found.overall, field) == pytest.approx(getattr(expected.overall, field))
    docs = sorted(documents_from_store(neo4j_store), key=lambda d: d.title)
    assert [(d.title, sorted(d.entities), sorted(d.triples)) for d in docs] == [
        (d.title, sorted(d.entities), sorted(d.triples))
        for d in sorted(expected_docs, key=lambda d: d.title)]
    assert essay_graph(neo4j_store, "no such essay") is None
