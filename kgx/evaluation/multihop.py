"""SynthKG metrics per 2WikiMultihopQA question: gold triples against the store's triples.

    questions = load_multihop_questions(Path("2wikimultihopqa_questions.jsonl"), limit=50)
    with open_store("./kgx-store", read_only=True) as store:
        report = evaluate_multihop(store, questions)
    report.overall.coverage, report.by_type["compositional"].semantic_score

A question is scored against the triples extracted from its gold passages, found through
`Document.external_id` (the `id` of each corpus line), and only when all its gold passages are
in the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from kgx.embeddings import Progress, SentenceEncoder, encode_unique, triple_text
from kgx.errors import InputError
from kgx.evaluation.kg_metrics import (
    DEFAULT_THRESHOLD,
    KGScores,
    Triple,
    TripleMatch,
    match_triples,
    summarize,
)
from kgx.graphdb import GraphStore
from kgx.graphdb.evaluation_queries import documents_by_key, triples_by_document
from kgx.jsonfiles import read_jsonl


class MultihopQuestion(BaseModel):
    """The parts of a 2Wiki question line the KG metrics need."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str = "unknown"
    gold_passage_ids: list[str]
    gold_triples: list[Triple]


class QuestionScores(BaseModel):
    """One question's metrics."""

    id: str
    type: str
    gold_triples: int
    extracted_triples: int
    semantic_score: float
    coverage: float
    token_f1: float


class MultihopReport(BaseModel):
    """Pooled metrics over the evaluated questions, per question type and per question."""

    questions_read: int
    questions_evaluated: int
    questions_missing_passages: int
    passages_found: int
    overall: KGScores
    by_type: dict[str, KGScores]
    per_question: list[QuestionScores]


def load_multihop_questions(path: Path, limit: int | None = None) -> list[MultihopQuestion]:
    """The first `limit` questions (all without one) of a 2Wiki questions JSONL file."""
    questions = []
    for number, record in read_jsonl(path):
        if limit is not None and len(questions) >= limit:
            break
        try:
            questions.append(MultihopQuestion.model_validate(record))
        except ValidationError as e:
            error = e.errors()[0]
            raise InputError(f"{path}:{number}: {'.'.join(map(str, error['loc']))}: "
                             f"{error['msg']}; each line needs id, gold_passage_ids and "
                             "gold_triples as [subject, predicate, object] lists.") from e
    if not questions:
        raise InputError(f"{path} holds no questions.")
    return questions


def evaluate_multihop(store: GraphStore, questions: Sequence[MultihopQuestion],
                      encoder: SentenceEncoder | None = None,
                      threshold: float = DEFAULT_THRESHOLD,
                      on_progress: Progress | None = None) -> MultihopReport:
    """Score each question whose gold passages are all in `store`; see the module docstring."""
    from kgx.embeddings import shared_encoder

    wanted = sorted({p for q in questions for p in q.gold_passage_ids})
    doc_ids = _documents_by_passage(store, wanted)
    ready = [q for q in questions if all(p in doc_ids for p in q.gold_passage_ids)]
    if not ready:
        raise InputError(_nothing_found(store.uri, wanted))
    triples = triples_by_document(store, sorted({d for ids in doc_ids.values() for d in ids}))
    extracted = {q.id: [t for p in q.gold_passage_ids for d in doc_ids[p] for t in triples[d]]
                 for q in ready}
    texts = [triple_text(t) for q in ready for t in (*q.gold_triples, *extracted[q.id])]
    vectors = encode_unique(encoder or shared_encoder(), texts, on_progress)
    matches = {q.id: match_triples(q.gold_triples, extracted[q.id], vectors) for q in ready}
    return MultihopReport(
        questions_read=len(questions), questions_evaluated=len(ready),
        questions_missing_passages=len(questions) - len(ready), passages_found=len(doc_ids),
        overall=_pooled(ready, matches, extracted, threshold),
        by_type=_by_type(ready, matches, extracted, threshold),
        per_question=[_question_scores(q, matches[q.id], extracted[q.id], threshold)
                      for q in ready])


def _documents_by_passage(store: GraphStore, passage_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for row in documents_by_key(store, passage_ids):
        if row["external_id"] in passage_ids:
            found[row["external_id"]].append(row["id"])
    return dict(found)


def _nothing_found(uri: str, wanted: list[str]) -> str:
    shown = ", ".join(wanted[:5]) + (f" and {len(wanted) - 5} more" if len(wanted) > 5 else "")
    return (f"No question has all its gold passages in the store {uri}: looked for documents "
            f"with external_id {shown}. Extract the passages first, e.g. kgx extract "
            f"2wikimultihopqa_corpus.jsonl --store {uri} (the corpus lines' id becomes "
            "external_id), or lower --limit to questions you extracted.")


def _pooled(questions: Sequence[MultihopQuestion], matches: dict[str, list[TripleMatch]],
            extracted: dict[str, list[Triple]], threshold: float) -> KGScores:
    pooled = [m for q in questions for m in matches[q.id]]
    return summarize(pooled, sum(len(extracted[q.id]) for q in questions), threshold)


def _by_type(questions: Sequence[MultihopQuestion], matches: dict[str, list[TripleMatch]],
             extracted: dict[str, list[Triple]], threshold: float) -> dict[str, KGScores]:
    groups: dict[str, list[MultihopQuestion]] = defaultdict(list)
    for question in questions:
        groups[question.type].append(question)
    return {kind: _pooled(group, matches, extracted, threshold)
            for kind, group in sorted(groups.items())}


def _question_scores(question: MultihopQuestion, matches: list[TripleMatch],
                     extracted: list[Triple], threshold: float) -> QuestionScores:
    scores = summarize(matches, len(extracted), threshold)
    return QuestionScores(id=question.id, type=question.type, gold_triples=scores.gold_triples,
                          extracted_triples=scores.extracted_triples,
                          semantic_score=scores.semantic_score, coverage=scores.coverage,
                          token_f1=scores.token_f1)
