"""Agreement with a teacher's NER + OpenIE output: entity and triple F1 under four matchings.

    teacher = load_teacher(Path("gpt35_openie_musique_passages.json"))
    pairs = pair_documents(teacher, load_predicted_documents(Path("student.jsonl")))
    report = agreement(pairs)
    report.by_mode["fuzzy"].triples.f1

Scores are micro-averaged over the paired documents (counts summed, then divided). The teacher
is silver, not gold: the numbers say how closely a student follows its teacher.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgx.embeddings import Progress, SentenceEncoder, encode_unique, triple_text
from kgx.errors import InputError
from kgx.evaluation.matching import (
    MATCH_MODES,
    PRF,
    MatchMode,
    count_matches,
    count_triple_matches,
    micro_prf,
)
from kgx.graphdb import GraphStore
from kgx.graphdb.evaluation_queries import all_documents, entities_by_document, triples_by_document
from kgx.jsonfiles import read_json, read_jsonl, string_list

Triple = tuple[str, str, str]


class AgreementDocument(BaseModel):
    """One document's entities and triples, on either side of the comparison."""

    model_config = ConfigDict(frozen=True)

    title: str = ""
    text: str = ""
    entities: list[str] = []
    triples: list[Triple] = []
    dropped_triples: int = 0
    """Triples of the input without exactly three string parts, left out of `triples`."""


class ModeScores(BaseModel):
    """Entity and triple P/R/F1 under one matching mode."""

    entities: PRF
    triples: PRF


class AgreementReport(BaseModel):
    """Agreement figures per matching mode."""

    documents: int
    teacher_dropped_triples: int = 0
    by_mode: dict[str, ModeScores]


def load_teacher(path: Path) -> list[AgreementDocument]:
    """A teacher file of `docs[].{title, text, extracted_entities, extracted_triples}`."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("docs"), list):
        raise InputError(f'{path}: expected {{"docs": [...]}} with title, text, '
                         "extracted_entities and extracted_triples per document.")
    documents = []
    for index, doc in enumerate(data["docs"]):
        where = f"{path}: docs[{index}]"
        triples = doc.get("extracted_triples") if isinstance(doc, dict) else None
        if not isinstance(triples, list):
            raise InputError(f'{where}: needs an "extracted_triples" list.')
        kept = [tuple(t) for t in triples if _is_triple(t)]
        documents.append(AgreementDocument(
            title=str(doc.get("title", "")), text=str(doc.get("text", "")), triples=kept,
            entities=string_list(doc.get("extracted_entities", []), where, "extracted_entities"),
            dropped_triples=len(triples) - len(kept)))
    return documents


def load_predicted_documents(path: Path) -> list[AgreementDocument]:
    """JSONL of {"id" or "title"[, "text"], "entities": [...], "triples": [[s, p, o], ...]}."""
    documents = []
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        title = record.get("title", record.get("id"))
        if not isinstance(title, str) and not isinstance(record.get("text"), str):
            raise InputError(f'{where}: needs "title" (or "id") or "text" to find its teacher '
                             "document.")
        triples = record.get("triples", [])
        if not isinstance(triples, list) or not all(_is_triple(t) for t in triples):
            raise InputError(f'{where}: "triples" must be a list of [subject, predicate, '
                             "object] string lists.")
        documents.append(AgreementDocument(
            title=title if isinstance(title, str) else "", text=str(record.get("text", "")),
            entities=string_list(record.get("entities", []), where, "entities"),
            triples=[tuple(t) for t in triples]))
    return documents


def documents_from_store(store: GraphStore) -> list[AgreementDocument]:
    """Every document in `store` with the entity names its chunks mention and its triples."""
    documents = all_documents(store)
    ids = [doc["id"] for doc in documents]
    entities = entities_by_document(store, ids)
    triples = triples_by_document(store, ids)
    return [AgreementDocument(title=doc["title"] or "", text=doc["text"] or "",
                              entities=list(dict.fromkeys(entities[doc["id"]].values())),
                              triples=triples[doc["id"]]) for doc in documents]


def pair_documents(teacher: Sequence[AgreementDocument], predicted: Sequence[AgreementDocument],
                   limit: int | None = None) -> list[tuple[AgreementDocument, AgreementDocument]]:
    """(teacher, predicted) pairs: by text when the prediction has one, else by title.

    Titles repeat in MuSiQue, so a title takes the first teacher document not yet paired.
    """
    by_text = {_squash(doc.text): i for i, doc in enumerate(teacher)}
    by_text.update({_squash(f"{doc.title}\n{doc.text}"): i for i, doc in enumerate(teacher)})
    used: set[int] = set()
    pairs = []
    for doc in predicted:
        index = by_text.get(_squash(doc.text)) if doc.text else None
        if index is None or index in used:
            index = next((i for i, t in enumerate(teacher)
                          if i not in used and doc.title and t.title == doc.title), None)
        if index is not None:
            used.add(index)
            pairs.append((teacher[index], doc))
    if not pairs:
        looked = ", ".join(repr(d.title or d.text[:40]) for d in predicted[:5])
        raise InputError(f"No predicted document matches a teacher document (looked for "
                         f"{looked}{' ...' if len(predicted) > 5 else ''}); documents are "
                         "matched by passage text, else by title.")
    return pairs[:limit] if limit else pairs


def agreement(pairs: Sequence[tuple[AgreementDocument, AgreementDocument]],
              encoder: SentenceEncoder | None = None,
              on_progress: Progress | None = None) -> AgreementReport:
    """Entity and triple P/R/F1 of the predicted side against the teacher, per matching mode."""
    from kgx.embeddings import shared_encoder

    texts = [t for teacher, predicted in pairs for doc in (teacher, predicted)
             for t in (*doc.entities, *(triple_text(x) for x in doc.triples))]
    vectors = encode_unique(encoder or shared_encoder(), texts, on_progress)
    by_mode = {mode: _mode_scores(pairs, mode, vectors) for mode in MATCH_MODES}
    dropped = sum(teacher.dropped_triples for teacher, _ in pairs)
    return AgreementReport(documents=len(pairs), teacher_dropped_triples=dropped,
                           by_mode=by_mode)


def _mode_scores(pairs, mode: MatchMode, vectors) -> ModeScores:
    entities = [(count_matches(p.entities, t.entities, mode, vectors=vectors),
                 len(p.entities), len(t.entities)) for t, p in pairs]
    triples = [(count_triple_matches(p.triples, t.triples, mode, vectors=vectors),
                len(p.triples), len(t.triples)) for t, p in pairs]
    return ModeScores(entities=micro_prf(entities), triples=micro_prf(triples))


def _is_triple(value: object) -> bool:
    return (isinstance(value, list | tuple) and len(value) == 3
            and all(isinstance(part, str) for part in value))


def _squash(text: str) -> str:
    return " ".join(text.split())
