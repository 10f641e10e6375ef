"""Retrievers side by side on multi-hop QA: passage Recall@k, latency and answer EM/F1.

    questions = load_qa_questions(Path("2wikimultihopqa_questions.jsonl"), limit=100)
    report = evaluate_retrievers({"dense": dense, "bm25": bm25}, questions)
    report.retrievers["dense"].overall.recall_at[5], report.retrievers["bm25"].by_type

A retrieved chunk is matched to a gold passage through its document's `external_id` (the `id`
of the corpus line). Chunks are deduplicated by document in rank order before the cut, so
Recall@k is the share of a question's gold passages among the first k distinct documents
retrieved, averaged over questions. Every figure is also given per question type.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgx.errors import ConfigError, InputError
from kgx.evaluation.normalization import normalize_text, token_f1
from kgx.evaluation.reports import Plot, markdown_table
from kgx.jsonfiles import read_jsonl
from kgx.retrieval.protocol import RetrievedChunk, Retriever

DEFAULT_KS = (2, 5, 10)
ANSWER_BATCH = 32
"""Questions handed to the answerer at once (the progress bar moves between batches)."""



class AnswerLike(Protocol):
    """An answer object such as `kgx.retrieval.graph_answer.AnswerResult`: its text (None when
    the answerer abstained), and why it is empty."""

    answer: str | None
    error: str | None


Answerer = Callable[[Sequence[tuple[str, Sequence[RetrievedChunk]]]],
                    Sequence[str | AnswerLike]]
"""Answers a batch of (question, chunks) pairs, one answer per pair, in order;
`functools.partial(answer_questions, llm)` is one."""
QAProgress = Callable[[str, int, int], None]
"""Called with (stage, done, total); the stage is a retriever's name or "answering NAME"."""


class QAQuestion(BaseModel):
    """The parts of a 2Wiki question line the QA evaluation needs; other fields are ignored."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)
    """Gold answer and its aliases; EM and F1 take the best of them."""
    gold_passage_ids: list[str] = Field(min_length=1)
    type: str = "unknown"


class AnswerRecord(BaseModel):
    """One answerer's answer to one question, scored."""

    answer: str | None
    """None when the answerer abstained."""
    abstained: bool = False
    confidence: float | None = None
    error: str | None = None
    exact_match: float
    token_f1: float


class QuestionRecord(BaseModel):
    """One question under one retriever: what came back, what hit, and the answer if asked."""

    id: str
    type: str
    retrieved: list[str]
    """Distinct documents retrieved, best first: external ids (the store's id if none)."""
    hits: list[bool]
    """Whether each `retrieved` document is a gold passage."""
    recall_at: dict[int, float]
    latency_s: float
    answer: str | None = None
    """The first answerer's answer (None when it abstained or none was asked)."""
    answer_error: str | None = None
    """Why the answer is empty, when the answerer could not use the LLM's reply."""
    exact_match: float | None = None
    token_f1: float | None = None
    answers: dict[str, AnswerRecord] = {}
    """Every answerer's answer, by answerer name."""
    answer_in_top: dict[int, bool] = {}
    """Whether a gold answer appears in the top k passages (the answerers' ceiling), by k."""


class AnswerScores(BaseModel):
    """One answerer's means over a set of answered questions."""

    questions: int
    exact_match: float
    token_f1: float
    abstention: float
    """Share of the questions it abstained on (scored 0)."""
    em_answered: float | None
    """EM over the questions it did answer."""
    failures: int = 0


class QAScores(BaseModel):
    """Means over a set of questions; EM and F1 over those answered (None if none were)."""

    questions: int
    recall_at: dict[int, float]
    mean_latency_s: float
    answered: int = 0
    answer_failures: int = 0
    """Answers left empty (and scored 0) because the LLM's reply could not be used."""
    exact_match: float | None = None
    token_f1: float | None = None
    answer_recall_at: dict[int, float] = {}
    """Share of answered questions with a gold answer in the top k passages."""
    answerers: dict[str, AnswerScores] = {}


class RetrieverResult(BaseModel):
    """One retriever's scores overall, per question type and per question."""

    name: str
    overall: QAScores
    by_type: dict[str, QAScores]
    per_question: list[QuestionRecord]


class QAReport(BaseModel):
    """Every retriever's result on the same questions, in the order they were given."""

    ks: list[int]
    top_k: int
    questions_read: int
    questions_evaluated: int
    questions_missing_passages: list[str] = []
    """Ids of questions left out because a gold passage is not in the corpus."""
    answered_with: list[str] = []
    answerers: list[str] = []
    """The answerers, in report order; the first one's answers are `per_question[i].answer`."""
    answer_limit: int | None = None
    retrievers: dict[str, RetrieverResult]


def load_qa_questions(path: Path, limit: int | None = None) -> list[QAQuestion]:
    """The first `limit` questions (all without one) of a 2Wiki-style questions JSONL file."""
    questions: list[QAQuestion] = []
    first_line: dict[str, int] = {}
    for number, record in read_jsonl(path):
        if limit is not None and len(questions) >= limit:
            break
        try:
            question = QAQuestion.model_validate(record)
        except ValidationError as e:
            error = e.errors()[0]
            field = ".".join(map(str, error["loc"])) or "line"
            raise InputError(f"{path}:{number}: {field}: {error['msg']}; each line needs "
                             '"id", "question", "answers" (a non-empty list of strings) and '
                             '"gold_passage_ids" (a non-empty list of corpus ids).') from e
        if question.id in first_line:
            raise InputError(f"{path}:{number}: question id {question.id!r} is already used on "
                             f"line {first_line[question.id]}; give each question its own id.")
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise InputError(f"{path} holds no questions; it needs one JSON object per line.")
    return questions


def missing_passages(questions: Sequence[QAQuestion], corpus_ids: Collection[str]
                     ) -> list[QAQuestion]:
    """The questions with a gold passage that is not among `corpus_ids`."""
    known = set(corpus_ids)
    return [q for q in questions if not known.issuperset(q.gold_passage_ids)]


def evaluate_retrievers(retrievers: Mapping[str, Retriever], questions: Sequence[QAQuestion],
                        ks: Sequence[int] = DEFAULT_KS, answerer: Answerer | None = None,
                        answer_limit: int | None = None, progress: QAProgress | None = None,
                        *, top_k: int | None = None, answer_with: Sequence[str] | None = None,
                        corpus_ids: Collection[str] | None = None,
                        answerers: Mapping[str, Answerer] | None = None,
                        answer_k: int | None = None) -> QAReport:
    """Run every (warmed-up) retriever on every question and score it; see the module docstring.

    Each retriever is asked for `top_k` chunks (default: the largest k). With `answerers` (name
    → answerer; `answerer` alone is named "llm"), the first `answer_limit` questions are
    answered by each from the first `answer_k` chunks (default: all) of the retrievers named
    in `answer_with` (default: the first). With `corpus_ids`, questions whose gold passages
    are not all in the corpus are left out and listed in `questions_missing_passages`.
    """
    answerers = dict(answerers or ({"llm": answerer} if answerer is not None else {}))
    ks, top_k = _cutoffs(ks, top_k)
    if not retrievers:
        raise ConfigError("No retrievers to evaluate; give at least one.")
    missing = missing_passages(questions, corpus_ids) if corpus_ids is not None else []
    left_out = {q.id for q in missing}
    ready = [q for q in questions if q.id not in left_out]
    if not ready:
        raise InputError(f"None of the {len(questions)} questions has all its gold passages in "
                         "the corpus; check that the questions and the corpus belong together.")
    answering = _answering(retrievers, answerers, answer_with)
    results = {}
    for name, retriever in retrievers.items():
        records, chunks = _retrieve_all(name, retriever, ready, top_k, ks, progress)
        if name in answering:
            read = [found[:answer_k] for found in chunks]
            for who, answer_fn in answerers.items():
                records = _answer_all(f"{name} ({who})", who, answer_fn, ready[:answer_limit],
                                      read, records, progress, first=who == next(iter(answerers)))
            # The ceiling at every k, from all the chunks retrieved, not only those read.
            records = [_ceiling(record, question, found, ks) if record.answers else record
                       for record, question, found in zip(records, ready, chunks, strict=True)]
        results[name] = _result(name, records, ks, list(answerers))
    return QAReport(ks=list(ks), top_k=top_k, questions_read=len(questions),
                    questions_evaluated=len(ready),
                    questions_missing_passages=[q.id for q in missing],
                    answered_with=answering, answerers=list(answerers) if answering else [],
                    answer_limit=answer_limit if answering else None, retrievers=results)


def recall_at(retrieved: Sequence[str], gold: Collection[str], k: int) -> float:
    """Share of the `gold` ids among the first `k` of `retrieved`."""
    wanted = set(gold)
    return len(wanted.intersection(retrieved[:k])) / len(wanted)


def answer_scores(answer: str, aliases: Sequence[str]) -> tuple[float, float]:
    """(exact match, token F1) of `answer`, each the best over the gold `aliases`."""
    normalized = normalize_text(answer)
    exact = max(float(normalized == normalize_text(alias)) for alias in aliases)
    return exact, max(token_f1(answer, alias) for alias in aliases)


def answer_recall(chunks: Sequence[RetrievedChunk], aliases: Sequence[str]) -> bool:
    """Whether a gold answer (any alias, SQuAD-normalised) appears in the chunks' text: the
    ceiling of an answerer that reads these chunks."""
    joined = " ".join(f"{c.title or ''} {c.text}" for c in chunks)
    text = f" {normalize_text(joined)} "
    return any(f" {normalize_text(alias)} " in text for alias in aliases
               if normalize_text(alias))


def distinct_documents(chunks: Sequence[RetrievedChunk]) -> list[str]:
    """The chunks' documents in rank order, each once: external ids, else store ids."""
    seen: dict[str, str] = {}
    for chunk in chunks:
        seen.setdefault(chunk.doc_id, chunk.external_id or chunk.doc_id)
    return list(seen.values())


def _cutoffs(ks: Sequence[int], top_k: int | None) -> tuple[list[int], int]:
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise ConfigError(f"Recall cut-offs must be positive integers, got {ks}.")
    top_k = top_k or ks[-1]
    if top_k < ks[-1]:
        raise ConfigError(f"top_k {top_k} is below the largest cut-off {ks[-1]}; raise top_k "
                          "or drop that cut-off.")
    return ks, top_k


def _answering(retrievers: Mapping[str, Retriever], answerers: Mapping[str, Answerer],
               names: Sequence[str] | None) -> list[str]:
    if not answerers:
        return []
    names = list(names or [next(iter(retrievers))])
    unknown = [name for name in names if name not in retrievers]
    if unknown:
        raise ConfigError(f"Cannot answer with {', '.join(unknown)}: not among the evaluated "
                          f"retrievers ({', '.join(retrievers)}).")
    return names


def _retrieve_all(name: str, retriever: Retriever, questions: Sequence[QAQuestion], top_k: int,
                  ks: Sequence[int], progress: QAProgress | None
                  ) -> tuple[list[QuestionRecord], list[list[RetrievedChunk]]]:
    records, chunk_lists = [], []
    for done, question in enumerate(questions, 1):
        started = time.perf_counter()
        chunks = retriever.retrieve(question.question, top_k)[:top_k]
        latency = time.perf_counter() - started
        documents = distinct_documents(chunks)
        gold = set(question.gold_passage_ids)
        records.append(QuestionRecord(
            id=question.id, type=question.type, retrieved=documents,
            hits=[doc in gold for doc in documents], latency_s=latency,
            recall_at={k: recall_at(documents, gold, k) for k in ks}))
        chunk_lists.append(chunks)
        if progress:
            progress(name, done, len(questions))
    return records, chunk_lists


def _answer_all(stage: str, who: str, answerer: Answerer, questions: Sequence[QAQuestion],
                chunks: Sequence[Sequence[RetrievedChunk]], records: list[QuestionRecord],
                progress: QAProgress | None, *, first: bool) -> list[QuestionRecord]:
    """`records` with the first len(questions) of them answered by `who` and scored; the first
    answerer's answer is also the record's own `answer`."""
    answered = list(records)
    for start in range(0, len(questions), ANSWER_BATCH):
        batch = questions[start:start + ANSWER_BATCH]
        replies = list(answerer([(q.question, chunks[start + i]) for i, q in enumerate(batch)]))
        if len(replies) != len(batch):
            raise ConfigError(f"The answerer returned {len(replies)} answers for {len(batch)} "
                              "questions; it must return one per question.")
        for i, (question, reply) in enumerate(zip(batch, replies, strict=True), start):
            text, error = (reply, None) if isinstance(reply, str) else (reply.answer,
                                                                          reply.error)
            exact, f1 = answer_scores(text, question.answers) if text else (0.0, 0.0)
            record = AnswerRecord(answer=text, abstained=text is None, error=error,
                                  confidence=getattr(reply, "confidence", None),
                                  exact_match=exact, token_f1=f1)
            update: dict = {"answers": {**answered[i].answers, who: record}}
            if first:
                update |= {"answer": text, "answer_error": error, "exact_match": exact,
                           "token_f1": f1}
            answered[i] = answered[i].model_copy(update=update)
        if progress:
            progress(f"answering {stage}", start + len(batch), len(questions))
    return answered


def _ceiling(record: QuestionRecord, question: QAQuestion, chunks: Sequence[RetrievedChunk],
             ks: Sequence[int]) -> QuestionRecord:
    return record.model_copy(update={"answer_in_top": {
        k: answer_recall(chunks[:k], question.answers) for k in ks}})


def _result(name: str, records: list[QuestionRecord], ks: Sequence[int],
            answerers: Sequence[str] = ()) -> RetrieverResult:
    types = sorted({r.type for r in records})
    return RetrieverResult(
        name=name, overall=_scores(records, ks, answerers),
        by_type={kind: _scores([r for r in records if r.type == kind], ks, answerers)
                 for kind in types},
        per_question=records)


def _scores(records: Sequence[QuestionRecord], ks: Sequence[int],
            answerers: Sequence[str] = ()) -> QAScores:
    answered = [r for r in records if r.answers or r.exact_match is not None]
    by_answerer = {}
    for who in answerers:
        rows = [r.answers[who] for r in records if who in r.answers]
        if rows:
            kept = [a.exact_match for a in rows if not a.abstained]
            by_answerer[who] = AnswerScores(
                questions=len(rows), exact_match=_mean([a.exact_match for a in rows]),
                token_f1=_mean([a.token_f1 for a in rows]),
                abstention=_mean([float(a.abstained) for a in rows]),
                em_answered=_mean(kept) if kept else None,
                failures=sum(a.error is not None for a in rows))
    return QAScores(
        questions=len(records),
        recall_at={k: _mean([r.recall_at[k] for r in records]) for k in ks},
        mean_latency_s=_mean([r.latency_s for r in records]),
        answered=len(answered),
        answer_failures=sum(r.answer_error is not None for r in answered),
        exact_match=_mean([r.exact_match or 0.0 for r in answered]) if answered else None,
        token_f1=_mean([r.token_f1 or 0.0 for r in answered]) if answered else None,
        answer_recall_at={k: _mean([float(r.answer_in_top.get(k, False)) for r in answered])
                          for k in ks} if answered else {},
        answerers=by_answerer)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# -- reports ------------------------------------------------------------------------------------

def qa_markdown(report: QAReport) -> str:
    """Retrievers side by side, overall and then per question type."""
    parts = ["## QA retrieval: passage recall, latency and answers\n",
             _scores_table(report, lambda result: result.overall)]
    if report.answerers:
        parts += ["### Answers by answerer\n", _answers_table(report, None)]
    for kind in sorted({k for r in report.retrievers.values() for k in r.by_type}):
        count = next(r.by_type[kind].questions for r in report.retrievers.values()
                     if kind in r.by_type)
        parts.append(f"### {kind} ({count} questions)\n")
        parts.append(_scores_table(report, lambda result, kind=kind: result.by_type.get(kind)))
        if report.answerers:
            parts.append(_answers_table(report, kind))
    parts.append(_notes(report))
    return "\n".join(parts)


def _scores_table(report: QAReport, pick: Callable[[RetrieverResult], QAScores | None]) -> str:
    answers = bool(report.answered_with)
    headers = ["retriever", "questions", *(f"R@{k}" for k in report.ks), "latency ms"]
    headers += ["answered", "EM", "F1"] if answers else []
    rows = []
    for name, result in report.retrievers.items():
        scores = pick(result)
        if scores is None:
            continue
        row: list[object] = [name, scores.questions, *(scores.recall_at[k] for k in report.ks),
                             f"{scores.mean_latency_s * 1000:.1f}"]
        if answers:
            row += ([scores.answered, scores.exact_match, scores.token_f1] if scores.answered
                    else ["", "", ""])
        rows.append(row)
    return markdown_table(headers, rows)


def _answers_table(report: QAReport, kind: str | None) -> str:
    """Per answering retriever and answerer: EM, F1, abstention, EM when answered, and the
    answer recall (gold answer in the top k passages) at each k."""
    headers = ["retriever", "answerer", "questions", "EM", "F1", "abstained", "EM answered",
               *(f"answer R@{k}" for k in report.ks)]
    rows = []
    for name in report.answered_with:
        result = report.retrievers[name]
        scores = result.overall if kind is None else result.by_type.get(kind)
        if scores is None:
            continue
        for who, s in scores.answerers.items():
            rows.append([name, who, s.questions, s.exact_match, s.token_f1, s.abstention,
                         "" if s.em_answered is None else s.em_answered,
                         *(scores.answer_recall_at.get(k, 0.0) for k in report.ks)])
    return markdown_table(headers, rows)


def _notes(report: QAReport) -> str:
    notes = [f"{report.questions_evaluated} of {report.questions_read} questions evaluated"]
    if report.questions_missing_passages:
        notes[0] += (f"; {len(report.questions_missing_passages)} left out because a gold "
                     "passage is not in the corpus")
    notes.append(f"R@k: share of a question's gold passages among the first k distinct "
                 f"documents of the top-{report.top_k} chunks, averaged over questions")
    if report.answered_with:
        limit = "all" if report.answer_limit is None else f"the first {report.answer_limit}"
        notes.append(f"EM and token F1 (best over the gold aliases, SQuAD normalisation) on "
                     f"{limit} questions, answered by {', '.join(report.answerers)} from the "
                     f"chunks of {', '.join(report.answered_with)}; an abstention scores 0. "
                     "The main table's EM and F1 are the first answerer's. Answer R@k: a gold "
                     "answer appears in the top k passages (what any reader could reach)")
        failures = sum(report.retrievers[name].overall.answer_failures
                       for name in report.answered_with)
        if failures:
            notes.append(f"{failures} answers were left empty and scored 0 because the LLM's "
                         "reply could not be used; see answer_error in qa.json")
    return "".join(f"- {note}.\n" for note in notes)


def recall_plot(report: QAReport) -> Plot:
    """Grouped bars of Recall@k per retriever."""
    return lambda path: _recall_bars(path, report)


def _recall_bars(path: Path, report: QAReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, width = list(report.retrievers), 0.8 / len(report.ks)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * len(names) + 2), 4))
    for i, k in enumerate(report.ks):
        offset = (i - (len(report.ks) - 1) / 2) * width
        values = [report.retrievers[name].overall.recall_at[k] for name in names]
        bars = axes.bar([x + offset for x in range(len(names))], values, width, label=f"R@{k}")
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks(range(len(names)), names)
    axes.set(ylabel="passage recall", ylim=(0, 1.2),
             title=f"Passage recall on {report.questions_evaluated} questions")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper center", ncol=len(report.ks))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
