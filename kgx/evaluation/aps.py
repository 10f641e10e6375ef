"""Abstractive proposition segmentation metrics (Hosseini et al., 2024) with a pluggable judge.

    items = load_predicted_propositions(Path("predicted.jsonl"))
    report = evaluate_propositions(items, make_scorer("lexical"),
                                   load_reference_propositions(Path("propsegment.dev.jsonl")))

- reference-free precision: mean score(premise ⇒ proposition) over all propositions, where the
  premise is the item's passage if it has one, else its sentence;
- reference-free recall: mean score(all the sentence's propositions ⇒ sentence) over sentences;
- reference-based: a predicted and a gold proposition match when each entails the other;
  precision is the share of predicted propositions with a match, recall the share of gold ones,
  both pooled over the sentences that have a reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgx.errors import InputError
from kgx.evaluation.entailment import EntailmentScorer, Pair, recorded_failures
from kgx.jsonfiles import read_jsonl, string_list


class SegmentedSentence(BaseModel):
    """A sentence and the propositions predicted for it, optionally with its passage."""

    model_config = ConfigDict(frozen=True)

    sentence: str
    propositions: list[str]
    passage: str | None = None
    source: str = ""
    """Where it was read, as file:line."""


class ReferenceFree(BaseModel):
    """Reference-free precision and recall."""

    precision: float
    recall: float
    propositions: int
    sentences: int


class ReferenceBased(BaseModel):
    """Two-way matching against gold propositions."""

    precision: float
    recall: float
    f1: float
    sentences: int
    predicted_propositions: int
    gold_propositions: int
    sentences_without_reference: int


class APSReport(BaseModel):
    """Every APS figure and the judge that produced it."""

    judge: str
    judge_label: str
    judge_threshold: float
    judge_failures: int = 0
    """Judge replies that failed (LLM judge) and scored 0."""
    reference_free: ReferenceFree
    reference_based: ReferenceBased | None = None


def load_predicted_propositions(path: Path) -> list[SegmentedSentence]:
    """Lines of {"sentence", "propositions"[, "passage"]}; `kgx propositions` output qualifies."""
    items = []
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        sentence = record.get("sentence")
        if not isinstance(sentence, str) or not sentence.strip():
            raise InputError(f'{where}: needs a non-empty "sentence" string.')
        passage = record.get("passage")
        items.append(SegmentedSentence(
            sentence=sentence, source=where, passage=passage if isinstance(passage, str) else None,
            propositions=string_list(record.get("propositions"), where, "propositions")))
    if not items:
        raise InputError(f"{path} holds no predicted propositions.")
    return items


def load_reference_propositions(path: Path) -> dict[str, list[str] | None]:
    """Sentence key → gold propositions (None where the set gives none), from PropSegmEnt lines."""
    references: dict[str, list[str] | None] = {}
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(record.get("sentence"), str):
            raise InputError(f'{where}: needs a "sentence" string.')
        field = "reference_propositions" if "reference_propositions" in record else "propositions"
        gold = record.get(field)
        references.setdefault(sentence_key(record["sentence"]),
                              None if gold is None else string_list(gold, where, field))
    return references


def sentence_key(sentence: str) -> str:
    """How sentences are matched across files: white space collapsed."""
    return " ".join(sentence.split())


def reference_free(items: Sequence[SegmentedSentence], scorer: EntailmentScorer) -> ReferenceFree:
    """Precision over propositions and recall over sentences; see the module docstring."""
    precision_pairs = [(item.passage or item.sentence, p) for item in items
                       for p in item.propositions]
    recall_pairs = [(" ".join(item.propositions), item.sentence) for item in items]
    precision = _scores(scorer, precision_pairs)
    recall = _scores(scorer, recall_pairs)
    return ReferenceFree(precision=_mean(precision), recall=_mean(recall),
                         propositions=len(precision_pairs), sentences=len(recall_pairs))


def reference_based(items: Sequence[SegmentedSentence],
                    references: dict[str, list[str] | None],
                    scorer: EntailmentScorer) -> ReferenceBased:
    """Two-way entailment matching of each sentence's propositions against its gold ones."""
    pairs = [(item.propositions, references[sentence_key(item.sentence)]) for item in items
             if references.get(sentence_key(item.sentence))]
    if not pairs:
        raise InputError("No predicted sentence has reference propositions: sentences are "
                         "matched by their text (white space aside); check that --reference "
                         "is the set the predictions were made for.")
    candidates = [(i, p, g) for i, (preds, golds) in enumerate(pairs)
                  for p in preds for g in golds]
    forward = _scores(scorer, [(p, g) for _, p, g in candidates])
    passed = [c for c, s in zip(candidates, forward, strict=True) if s >= scorer.threshold]
    backward = _scores(scorer, [(g, p) for _, p, g in passed])
    matched = [c for c, s in zip(passed, backward, strict=True) if s >= scorer.threshold]
    predicted = sum(len(preds) for preds, _ in pairs)
    gold = sum(len(golds) for _, golds in pairs)
    precision = len({(i, p) for i, p, _ in matched}) / predicted if predicted else 0.0
    recall = len({(i, g) for i, _, g in matched}) / gold
    return ReferenceBased(precision=precision, recall=recall, f1=_f1(precision, recall),
                          sentences=len(pairs), predicted_propositions=predicted,
                          gold_propositions=gold, sentences_without_reference=len(items) - len(
                              pairs))


def evaluate_propositions(items: Sequence[SegmentedSentence], scorer: EntailmentScorer,
                          references: dict[str, list[str] | None] | None = None) -> APSReport:
    """Reference-free metrics, and reference-based ones when `references` is given."""
    free = reference_free(items, scorer)
    based = None if references is None else reference_based(items, references, scorer)
    return APSReport(judge=scorer.name, judge_label=scorer.label,
                     judge_threshold=scorer.threshold, reference_free=free,
                     reference_based=based,
                     judge_failures=recorded_failures(scorer))


def _scores(scorer: EntailmentScorer, pairs: list[Pair]) -> list[float]:
    """Scores of `pairs`; an empty premise entails nothing, so it is not sent to the judge."""
    asked = [i for i, (premise, _) in enumerate(pairs) if premise.strip()]
    answers = dict(zip(asked, scorer.score_batch([pairs[i] for i in asked]) if asked else [],
                       strict=True))
    return [answers.get(i, 0.0) for i in range(len(pairs))]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
