"""BertNet harvesting end to end: prompt set, weights, search, rescoring, storage.

    result = harvest_relation(load_llm("hf:local"), relation, top_n=100)
    write_jsonl(result, "harvest.jsonl"); store.upsert(harvest_batch(result))
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from kgx.ids import stable_id
from kgx.models import Chunk, Document, Entity, GraphBatch, Provenance, Relation

from .prompts import prompt_set, weigh_prompts
from .relation import Relation as RelationSpec
from .scoring import score_tuples
from .search import CandidateSearch, SearchStats

EXTRACTOR_NAME = "bertnet.harvest.v1"
ENTITY_TYPE = "CONCEPT"


@dataclass
class HarvestResult:
    """The ranked tuples of one relation, the weighted prompts behind them, and search stats."""

    relation: str
    model: str
    prompts: list[tuple[str, float]]
    tuples: list[tuple[tuple[str, ...], float]]
    stats: SearchStats
    seconds: float = 0.0
    held_out: list[tuple[str, ...]] = field(default_factory=list)

    def lines(self) -> list[dict]:
        """One JSON-ready record per tuple, best first."""
        prompts = [p for p, _ in self.prompts]
        return [{"relation": self.relation, "entities": list(entities), "score": score,
                 "rank": rank, "prompts": prompts, "model": self.model}
                for rank, (entities, score) in enumerate(self.tuples, 1)]


def harvest_relation(llm, relation: RelationSpec, *, top_n: int = 100, holdout: int = 0,
                     paraphrase: bool = True, max_prompts: int = 10, k: int = 10,
                     max_entity_tokens: int = 3, max_expansions: int = 2000,
                     max_per_entity: int = 3) -> HarvestResult:
    """Harvest `relation`; the last `holdout` seeds are kept out of prompt weighting."""
    started = time.perf_counter()
    seeds = list(relation.seeds)
    held_out = seeds[len(seeds) - holdout:] if 0 < holdout < len(seeds) else []
    seeds = seeds[:len(seeds) - len(held_out)]
    prompts = prompt_set(llm, relation, max_prompts=max_prompts, paraphrase=paraphrase)
    weighted = weigh_prompts(llm, prompts, seeds)
    search = CandidateSearch(llm, relation, weighted, top_n=top_n, k=k,
                             max_entity_tokens=max_entity_tokens, max_expansions=max_expansions,
                             max_per_entity=max_per_entity)
    candidates = [entities for entities, _ in search.run()]
    tuples = rescore(llm, weighted, candidates)[:top_n]
    return HarvestResult(relation.name, llm.model, weighted, tuples, search.stats,
                         time.perf_counter() - started, held_out)


def rescore(llm, weighted: list[tuple[str, float]], candidates: list[tuple[str, ...]]
            ) -> list[tuple[tuple[str, ...], float]]:
    """Candidates ranked by the full weighted score over every prompt."""
    if not candidates:
        return []
    prompts = [p for p, _ in weighted]
    scores = score_tuples(llm, prompts, candidates)
    ranked = [(c, math.fsum(w * s for (_, w), s in zip(weighted, row, strict=True)))
              for c, row in zip(candidates, scores, strict=True)]
    return sorted(ranked, key=lambda item: item[1], reverse=True)


def write_jsonl(results: list[HarvestResult], path: Path) -> None:
    """All results as JSON lines (see `HarvestResult.lines`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as sink:
        for result in results:
            sink.writelines(json.dumps(line, ensure_ascii=False) + "\n"
                            for line in result.lines())


def harvest_batch(result: HarvestResult, run_id: str = "") -> GraphBatch:
    """A store batch: the harvest as a document (its prompts), entities and relations.

    Provenance says `bertnet.harvest.v1`, the model, and the prompt set (its id as the prompt
    version); the score is kept as the relation's confidence (exp of the log-prob score).
    """
    prompt_text = "\n".join(f"{w:.4f}\t{p}" for p, w in result.prompts)
    prompt_set_id = stable_id("prompts", prompt_text)
    doc = Document(title=f"harvest: {result.relation}", text=prompt_text or result.relation,
                   source="harvest", external_id=f"harvest:{result.relation}:{result.model}")
    chunk = Chunk(doc_id=doc.id, index=0, text=doc.text, start=0, end=len(doc.text),
                  n_tokens=len(doc.text.split()))
    where = Provenance(doc_id=doc.id, chunk_id=chunk.id, start=0, end=len(doc.text),
                       extractor=EXTRACTOR_NAME, extractor_version="1", model=result.model,
                       prompt_version=prompt_set_id, run_id=run_id)
    top_prompt = result.prompts[0][0] if result.prompts else ""
    entities, relations = {}, []
    for names, score in result.tuples:
        ends = [Entity(name=n, type=ENTITY_TYPE) for n in names]
        entities.update({e.id: e for e in ends})
        for subject, obj in pairwise(ends):
            relations.append(Relation(
                subject=subject, predicate=result.relation, object=obj,
                evidence=_filled(top_prompt, names), provenance=where,
                confidence=min(1.0, max(0.0, math.exp(score)))))
    return GraphBatch(documents=[doc], chunks=[chunk], entities=list(entities.values()),
                      mentions=[(chunk.id, e) for e in entities], relations=relations,
                      completed_key=EXTRACTOR_NAME, completed=[doc.id])


def _filled(prompt: str, names: tuple[str, ...]) -> str:
    for i, name in enumerate(names):
        prompt = prompt.replace(f"<ENT{i}>", name)
    return prompt
