"""MINE-style fact recall (KGGen): is each essay fact recoverable from the essay's KG?

    essays = load_mine_essays(Path("mine_sample"))
    write_essays_jsonl(essays, Path("essays.jsonl"))      # then: kgx extract essays.jsonl
    with open_store("./kgx-store", read_only=True) as store:
        report = evaluate_mine(store, essays, make_scorer("embedding"))

For each fact the 8 entities whose names are closest to it (MiniLM cosine) are taken with
their 2-hop neighbourhood in the essay's KG; the relations there, one "subject predicate object"
line each, are the premise the judge checks the fact against. An essay's KG is every document
whose `external_id` or title is the essay's topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kgx.embeddings import Progress, SentenceEncoder, cosine_matrix, triple_text
from kgx.errors import InputError
from kgx.evaluation.entailment import EntailmentScorer, recorded_failures
from kgx.graphdb import GraphStore
from kgx.graphdb.evaluation_queries import documents_by_key, entities_by_document, relation_rows
from kgx.jsonfiles import read_json

TOP_K = 8
HOPS = 2


class Essay(BaseModel):
    """A MINE essay and the facts a good KG of it should contain."""

    model_config = ConfigDict(frozen=True)

    topic: str
    content: str
    facts: list[str]


class EssayGraph(BaseModel):
    """The part of a store extracted from one essay: entity names and relations."""

    entities: dict[str, str]
    """Entity id → name."""
    relations: list[tuple[str, str, str, str, str]]
    """(subject id, subject, predicate, object id, object)."""


class FactVerdict(BaseModel):
    """The judge's score for one fact and the context it saw."""

    fact: str
    score: float
    recalled: bool
    context: list[str]


class EssayRecall(BaseModel):
    """Fact recall for one essay."""

    topic: str
    entities: int
    relations: int
    facts: int
    recalled: int
    recall: float
    verdicts: list[FactVerdict]


class MineReport(BaseModel):
    """Recall per essay and overall (pooled over facts), with the judge used."""

    judge: str
    judge_label: str
    judge_threshold: float
    judge_failures: int = 0
    """Judge replies that failed (LLM judge) and scored 0."""
    top_k: int
    hops: int
    facts: int
    recalled: int
    recall: float
    essays: list[EssayRecall]
    essays_not_in_store: list[str]


def load_mine_essays(folder: Path, limit: int | None = None) -> list[Essay]:
    """Essays from `essays.json` ([{topic, content}]) with `facts.json` ([[{answer}], ...])."""
    essays, facts = read_json(folder / "essays.json"), read_json(folder / "facts.json")
    if not isinstance(essays, list) or not isinstance(facts, list) or len(essays) != len(facts):
        raise InputError(f"{folder}: essays.json and facts.json must be lists of the same "
                         "length (one facts list per essay).")
    loaded = []
    for index, (essay, answers) in enumerate(zip(essays, facts, strict=True)):
        try:
            loaded.append(Essay(topic=essay["topic"], content=essay["content"],
                                facts=[a["answer"] if isinstance(a, dict) else a
                                       for a in answers]))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{folder}: essay {index}: needs topic and content, and its "
                             f"facts a list of {{\"answer\": ...}} ({e}).") from e
    return loaded[:limit] if limit else loaded


def write_essays_jsonl(essays: Sequence[Essay], out: Path) -> int:
    """Write essays as kgx input lines {"id": topic, "title": topic, "text": content}."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as sink:
        for essay in essays:
            # The essays come wrapped in Markdown code fences; they are not text.
            text = essay.content.strip().strip("`").strip()
            sink.write(json.dumps({"id": essay.topic, "title": essay.topic, "text": text},
                                  ensure_ascii=False) + "\n")
    return len(essays)


def essay_graph(store: GraphStore, topic: str) -> EssayGraph | None:
    """The KG of the documents named `topic` (external_id or title); None if there are none."""
    doc_ids = sorted({row["id"] for row in documents_by_key(store, [topic])})
    if not doc_ids:
        return None
    entities = {k: v for names in entities_by_document(store, doc_ids).values()
                for k, v in names.items()}
    relations = [(r["subject_id"], r["subject"], r["predicate"], r["object_id"], r["object"])
                 for r in relation_rows(store, doc_ids)]
    for subject_id, subject, _, object_id, obj in relations:
        entities.setdefault(subject_id, subject)
        entities.setdefault(object_id, obj)
    return EssayGraph(entities=entities, relations=relations)


def fact_contexts(graph: EssayGraph, facts: Sequence[str], encoder: SentenceEncoder,
                  top_k: int = TOP_K, hops: int = HOPS) -> list[list[str]]:
    """For each fact, the relation lines around its `top_k` closest entities, `hops` deep."""
    import networkx as nx

    if not graph.entities or not facts:
        return [[] for _ in facts]
    ids = list(graph.entities)
    similarity = cosine_matrix(encoder.encode(list(facts)),
                               encoder.encode([graph.entities[i] for i in ids]))
    network = nx.Graph()
    network.add_nodes_from(ids)
    network.add_edges_from((r[0], r[3]) for r in graph.relations)
    contexts = []
    for row in similarity:
        seeds = [ids[i] for i in row.argsort()[::-1][:top_k]]
        near = set().union(*(nx.single_source_shortest_path_length(network, s, cutoff=hops)
                             for s in seeds))
        lines = [triple_text((r[1], r[2], r[4])) for r in graph.relations
                 if r[0] in near and r[3] in near]
        contexts.append(list(dict.fromkeys(lines)))
    return contexts


def evaluate_mine(store: GraphStore, essays: Sequence[Essay], scorer: EntailmentScorer,
                  encoder: SentenceEncoder | None = None, top_k: int = TOP_K, hops: int = HOPS,
                  on_progress: Progress | None = None) -> MineReport:
    """Fact recall of every essay found in `store`; see the module docstring."""
    from kgx.embeddings import shared_encoder

    encoder = encoder or shared_encoder()
    found, missing = [], []
    for done, essay in enumerate(essays, 1):
        graph = essay_graph(store, essay.topic)
        if graph is None:
            missing.append(essay.topic)
        else:
            found.append((essay, graph, fact_contexts(graph, essay.facts, encoder, top_k, hops)))
        if on_progress:
            on_progress(done, len(essays))
    if not found:
        raise InputError(_nothing_found(store.uri, missing))
    results = _judge(found, scorer)
    facts, recalled = sum(r.facts for r in results), sum(r.recalled for r in results)
    return MineReport(judge=scorer.name, judge_label=scorer.label,
                      judge_threshold=scorer.threshold, top_k=top_k, hops=hops,
                      facts=facts, recalled=recalled, recall=recalled / facts if facts else 0.0,
                      essays=results, essays_not_in_store=missing,
                      judge_failures=recorded_failures(scorer))


def _judge(found: list[tuple[Essay, EssayGraph, list[list[str]]]],
           scorer: EntailmentScorer) -> list[EssayRecall]:
    """Score every fact with a context in one batch; a fact with no context is not recalled."""
    asked = [("\n".join(context), fact) for essay, _, contexts in found
             for fact, context in zip(essay.facts, contexts, strict=True) if context]
    answers = iter(scorer.score_batch(asked) if asked else [])
    results = []
    for essay, graph, contexts in found:
        verdicts = []
        for fact, context in zip(essay.facts, contexts, strict=True):
            score = next(answers) if context else 0.0
            verdicts.append(FactVerdict(fact=fact, score=score, context=context,
                                        recalled=bool(context) and score >= scorer.threshold))
        hits = sum(v.recalled for v in verdicts)
        results.append(EssayRecall(
            topic=essay.topic, entities=len(graph.entities), relations=len(graph.relations),
            facts=len(verdicts), recalled=hits, recall=hits / len(verdicts) if verdicts else 0.0,
            verdicts=verdicts))
    return results


def _nothing_found(uri: str, topics: list[str]) -> str:
    shown = ", ".join(repr(t) for t in topics[:3]) + (" ..." if len(topics) > 3 else "")
    return (f"No MINE essay is in the store {uri}: looked for documents whose external_id or "
            f"title is {shown}. Write the essays as JSONL (kgx.evaluation.write_essays_jsonl, "
            "or kgx eval mine-essays) and run kgx extract on that file first.")
