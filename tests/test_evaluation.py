"""Evaluation metrics on hand-built inputs with known answers, using the real MiniLM encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgx.embeddings import shared_encoder, triple_text
from kgx.errors import ConfigError, InputError
from kgx.evaluation.aps import (
    SegmentedSentence,
    evaluate_propositions,
    load_predicted_propositions,
    load_reference_propositions,
    reference_based,
    reference_free,
)
from kgx.evaluation.entailment import EmbeddingEntailment, LexicalEntailment, make_scorer
from kgx.evaluation.kg_metrics import COVERAGE_THRESHOLDS, score_triples
from kgx.evaluation.llm_judge import LLMJudge
from kgx.evaluation.matching import (
    PRF,
    count_matches,
    count_triple_matches,
    greedy_one_to_one,
    micro_prf,
)
from kgx.evaluation.mine import EssayGraph, fact_contexts, load_mine_essays, write_essays_jsonl
from kgx.evaluation.multihop import load_multihop_questions
from kgx.evaluation.normalization import normalize_text, token_containment, token_f1
from kgx.evaluation.teacher import AgreementDocument, agreement, load_teacher, pair_documents
from kgx.llm.managed import ManagedLLM
from kgx.testing.fake_llm import FakeLLM, json_reply

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
GOLD = [("Marie Curie", "born in", "Warsaw"), ("Marie Curie", "discovered", "polonium"),
        ("Pierre Curie", "spouse", "Marie Curie")]


# -- normalisation and token overlap -------------------------------------------------------------

def test_normalization_drops_case_punctuation_and_articles():
    assert normalize_text("The Beatles!") == "beatles"
    assert normalize_text("  An  apple, a DAY ") == "apple day"


def test_normalization_token_f1_and_containment():
    assert token_f1("Ada Lovelace", "Ada Lovelace") == 1.0
    assert token_f1("Ada Lovelace", "Lovelace") == pytest.approx(2 / 3)
    assert token_f1("Ada", "Babbage") == 0.0
    assert token_containment("The Beatles sang Help", "beatles sang") == 1.0
    assert token_containment("Beatles", "Beatles sang") == 0.5


# -- SynthKG KG metrics ------------------------------------------------------------------------

def test_kg_metrics_identical_triples_score_one():
    scores = score_triples(GOLD, list(GOLD))
    assert scores.semantic_score == pytest.approx(1.0, abs=1e-5)
    assert scores.coverage == 1.0
    assert scores.token_f1 == 1.0
    assert set(scores.coverage_curve.values()) == {1.0}


def test_kg_metrics_disjoint_triples_score_low():
    extracted = [("stock market", "closed at", "record high"), ("recipe", "needs", "flour")]
    scores = score_triples(GOLD, extracted)
    assert scores.semantic_score < 0.3
    assert scores.coverage == 0.0
    assert scores.token_f1 == 0.0


def test_kg_metrics_curve_falls_with_threshold_and_matches_coverage():
    extracted = [("Marie Skłodowska Curie", "was born in", "Warsaw, Poland"),
                 ("Curie", "found", "radium")]
    scores = score_triples(GOLD, extracted, threshold=0.7)
    values = [scores.coverage_curve[f"{t:.2f}"] for t in COVERAGE_THRESHOLDS]
    assert values == sorted(values, reverse=True)
    assert scores.coverage == scores.coverage_curve["0.70"]
    assert 0.0 < scores.semantic_score < 1.0
    assert scores.extracted_triples == 2 and scores.gold_triples == 3


def test_kg_metrics_nothing_extracted_scores_zero():
    scores = score_triples(GOLD, [])
    assert (scores.semantic_score, scores.coverage, scores.token_f1) == (0.0, 0.0, 0.0)


def test_embeddings_are_unit_vectors_and_shared():
    assert shared_encoder() is shared_encoder()
    vectors = shared_encoder().encode(["Ada Lovelace", "Charles Babbage"])
    assert vectors.shape == (2, 384)
    assert (abs((vectors ** 2).sum(axis=1) - 1) < 1e-4).all()
    assert triple_text(("Ada", " wrote ", "notes")) == "Ada wrote notes"


# -- matching ----------------------------------------------------------------------------------

def test_matching_normalized_equates_the_beatles_and_beatles():
    assert count_matches(["The Beatles"], ["beatles"], "exact") == 0
    assert count_matches(["The Beatles"], ["beatles"], "normalized") == 1
    assert count_triple_matches([("The Beatles", "Formed In", "Liverpool.")],
                                [("beatles", "formed in", "liverpool")], "normalized") == 1


def test_matching_fuzzy_is_one_to_one():
    predicted = ["Barack Obama", "Obama Barack", "Michelle Obama"]
    gold = ["barack obama"]
    assert count_matches(predicted, gold, "fuzzy") == 1
    assert count_matches(predicted, ["barack obama", "Michelle  Obama"], "fuzzy") == 2
    assert count_matches(["Obama"], gold, "fuzzy") == 0


def test_matching_greedy_takes_the_best_pairs_first():
    import numpy as np

    scores = np.array([[0.9, 0.95], [0.1, 0.92]])
    assert greedy_one_to_one(scores, 0.85) == [(0, 1)]  # row 1 lost its only candidate
    assert greedy_one_to_one(np.array([[0.9, 0.8], [0.95, 0.2]]), 0.5) == [(1, 0), (0, 1)]


def test_matching_exact_counts_duplicates_once_each():
    assert count_matches(["Ada", "Ada", "Ada"], ["Ada", "Ada"], "exact") == 2


def test_matching_embedding_matches_close_paraphrase_only():
    predicted = ["Marie Curie was born in Warsaw", "The weather is nice"]
    gold = ["Marie Curie, born in Warsaw"]
    assert count_matches(predicted, gold, "embedding") == 1


def test_matching_micro_prf_sums_counts():
    prf = micro_prf([(2, 3, 4), (1, 1, 2)])
    assert (prf.matched, prf.predicted, prf.gold) == (3, 4, 6)
    assert prf.precision == 0.75 and prf.recall == 0.5
    assert prf.f1 == pytest.approx(0.6)
    assert micro_prf([]) == PRF.from_counts(0, 0, 0)
    with pytest.raises(ConfigError):
        count_matches(["a"], ["a"], "telepathy")


# -- entailment scorers and APS -----------------------------------------------------------------

SENTENCE = "Ada Lovelace wrote the first program in 1843."


def test_entailment_lexical_and_embedding_fallbacks_say_they_are_not_nli():
    lexical, embedding = LexicalEntailment(), EmbeddingEntailment()
    assert "not NLI" in lexical.label and "not NLI" in embedding.label
    assert lexical.score(SENTENCE, "Ada Lovelace wrote a program") == 1.0
    context = "stock market closed higher\nAda Lovelace wrote the first program"
    best_line = embedding.score(context, "Ada Lovelace wrote the first program")
    assert best_line == pytest.approx(1.0, abs=1e-4)


def test_entailment_make_scorer_rejects_unknown_and_llm_without_model():
    with pytest.raises(ConfigError, match="use one of"):
        make_scorer("nli")
    with pytest.raises(ConfigError, match="--llm"):
        make_scorer("llm")
    assert make_scorer("lexical", threshold=0.9).threshold == 0.9


def test_aps_reference_free_with_the_lexical_scorer():
    item = SegmentedSentence(sentence=SENTENCE, propositions=[
        "Ada Lovelace wrote the first program.", "The first program was written in 1843."])
    scores = reference_free([item], LexicalEntailment())
    # "ada lovelace wrote first program" is all in the sentence; "was written" is not (4/6).
    assert scores.precision == pytest.approx((1.0 + 4 / 6) / 2)
    # The sentence's 7 tokens: "ada lovelace wrote first program in 1843" all occur.
    assert scores.recall == 1.0
    assert (scores.propositions, scores.sentences) == (2, 1)


def test_aps_reference_based_needs_entailment_both_ways():
    item = SegmentedSentence(sentence=SENTENCE, propositions=[
        "Ada Lovelace wrote the first program", "Ada Lovelace wrote", "Babbage built engines"])
    gold = {SENTENCE: ["Ada Lovelace wrote the first program", "The program dates from 1843"]}
    scores = reference_based([item], gold, LexicalEntailment(threshold=0.75))
    # Only the first prediction and the first gold match both ways ("Ada Lovelace wrote" is
    # contained in the gold one, but the gold one is not contained in it).
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)


def test_aps_sentence_without_propositions_has_zero_recall():
    items = [SegmentedSentence(sentence=SENTENCE, propositions=[])]
    report = evaluate_propositions(items, LexicalEntailment())
    assert report.reference_free.recall == 0.0 and report.reference_based is None


def test_aps_loads_kgx_propositions_output_and_propsegment_references():
    items = load_predicted_propositions(FIXTURES / "propositions_predicted.jsonl")
    references = load_reference_propositions(FIXTURES / "propsegment_reference.jsonl")
    assert len(items) == 6 and items[0].source.endswith(":1")
    assert sum(value is None for value in references.values()) == 1
    scores = reference_based(items, references, LexicalEntailment())
    assert scores.sentences == 5 and scores.sentences_without_reference == 1


def test_aps_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"sentence": "A.", "propositions": ["A."]}\n{"sentence": oops}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        load_predicted_propositions(path)
    path.write_text('{"sentence": "A.", "propositions": "A."}\n')
    with pytest.raises(InputError, match="list of strings"):
        load_predicted_propositions(path)


def test_llm_judge_batches_pairs_into_one_generate_call():
    fake = FakeLLM([json_reply(entailed=True), json_reply(entailed=False)])
    calls = []
    complete = fake.complete
    fake.complete = lambda requests: calls.append(len(requests)) or complete(requests)
    judge = LLMJudge(ManagedLLM(fake))
    assert judge.score_batch([(SENTENCE, "Ada wrote a program"), (SENTENCE, "Ada sang")]) == [
        1.0, 0.0]
    assert calls == [2]
    assert "Ada sang" in fake.requests[1].messages[-1].content
    assert "prompt kgx.eval.entailment.v1" in judge.label


def test_llm_judge_records_failed_replies_as_zero():
    fake = FakeLLM(["not json", "still not json"])
    judge = LLMJudge(ManagedLLM(fake, on_error="skip-and-record"))
    assert judge.score(SENTENCE, "Ada wrote") == 0.0
    assert len(judge.failures) == 1


def test_aps_with_llm_judge_counts_verdicts():
    fake = FakeLLM([lambda request: json_reply(entailed="Babbage" not in request.prompt_text())
                    for _ in range(3)])
    item = SegmentedSentence(sentence=SENTENCE, propositions=["Ada wrote", "Babbage wrote"])
    report = evaluate_propositions([item], make_scorer("llm", ManagedLLM(fake)))
    assert report.reference_free.precision == 0.5
    assert report.reference_free.recall == 0.0  # the recall premise mentions Babbage
    assert report.judge == "llm" and report.judge_failures == 0


# -- MINE --------------------------------------------------------------------------------------

def test_mine_loads_essays_and_writes_ingestable_jsonl(tmp_path):
    essays = load_mine_essays(FIXTURES / "mine")
    assert len(essays) == 1 and len(essays[0].facts) == 15
    out = tmp_path / "essays.jsonl"
    assert write_essays_jsonl(essays, out) == 1
    line = json.loads(out.read_text())
    assert line["id"] == line["title"] == essays[0].topic
    assert not line["text"].startswith("`")


def test_mine_fact_context_is_the_neighbourhood_of_the_closest_entities():
    graph = EssayGraph(
        entities={"a": "caterpillar", "b": "chrysalis", "c": "butterfly", "d": "stock market"},
        relations=[("a", "caterpillar", "forms", "b", "chrysalis"),
                   ("b", "chrysalis", "releases", "c", "butterfly"),
                   ("d", "stock market", "crashed in", "d", "stock market")])
    [one_hop] = fact_contexts(graph, ["The caterpillar forms a chrysalis"], shared_encoder(),
                              top_k=1, hops=1)
    assert one_hop == ["caterpillar forms chrysalis"]
    [two_hops] = fact_contexts(graph, ["The caterpillar"], shared_encoder(), top_k=1, hops=2)
    assert two_hops == ["caterpillar forms chrysalis", "chrysalis releases butterfly"]


# -- teacher agreement -------------------------------------------------------------------------

def test_teacher_loader_drops_triples_without_three_parts():
    teacher = load_teacher(FIXTURES / "teacher_3docs.json")
    raw = json.loads((FIXTURES / "teacher_3docs.json").read_text())["docs"]
    assert [len(d.triples) + d.dropped_triples for d in teacher] == [
        len(d["extracted_triples"]) for d in raw]
    assert sum(d.dropped_triples for d in teacher) >= 1


def test_teacher_pairs_by_text_then_by_repeated_titles_in_order():
    teacher = [AgreementDocument(title="X", text="one"), AgreementDocument(title="X", text="two"),
               AgreementDocument(title="Y", text="three")]
    predicted = [AgreementDocument(text="Y\nthree "), AgreementDocument(title="X"),
                 AgreementDocument(title="X")]
    pairs = pair_documents(teacher, predicted)
    assert [t.text for t, _ in pairs] == ["three", "one", "two"]
    with pytest.raises(InputError, match="matched by passage text"):
        pair_documents(teacher, [AgreementDocument(title="Z")])


def test_teacher_agreement_with_one_triple_missing():
    gold = AgreementDocument(entities=["Ada", "London"], triples=[
        ("Ada", "born in", "London"), ("Ada", "wrote", "notes")])
    student = AgreementDocument(entities=["ada", "London"], triples=[("Ada", "born in", "London")])
    report = agreement([(gold, student)])
    assert report.by_mode["exact"].entities.f1 == 0.5
    assert report.by_mode["normalized"].entities.f1 == 1.0
    for mode in ("exact", "normalized", "fuzzy", "embedding"):
        triples = report.by_mode[mode].triples
        assert (triples.precision, triples.recall) == (1.0, 0.5)


def test_multihop_loader_names_the_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "gold_passage_ids": ["p1"]}\n')
    with pytest.raises(InputError, match=r"q.jsonl:1: gold_triples"):
        load_multihop_questions(path)
    assert len(load_multihop_questions(FIXTURES / "multihop_questions.jsonl", limit=2)) == 2
