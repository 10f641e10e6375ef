"""BertNet harvest evaluation: precision@k against held-out seeds and gold, novelty, diversity.

    sources = HarvestSources(harvest=Path("harvest.jsonl"), relations=Path("conceptnet.json"),
                             heldout_seeds=2, baseline=Path("baseline/conceptnet.json"))
    report = evaluate_sources(sources)
    write_report(Path("eval-out"), "harvest", report, harvest_markdown(report),
                 precision_plot(report))

Held-out seeds are the seeds the harvest did not get: `kgx harvest --holdout N` keeps the last N
seeds of each relation out of prompt weighting, so `heldout_seeds=N` takes those same last N as
gold. Entities are compared normalised (underscores to spaces, casefolded, spaces collapsed), and
a relation's ranking keeps the first line of each normalised tuple, so repeats count once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgx.errors import ConfigError, InputError
from kgx.jsonfiles import read_json, read_jsonl, string_list

Entities = tuple[str, ...]
Ranked = dict[str, list[Entities]]
"""Relation → its distinct normalised tuples, best first."""
TupleSets = dict[str, set[Entities]]
"""Relation → a set of normalised tuples (gold or a KB)."""


class HarvestedTuple(BaseModel):
    """One line of `kgx harvest` output."""

    relation: str = Field(min_length=1)
    entities: list[str] = Field(min_length=1)
    score: float | None = None
    rank: int | None = None
    prompts: list[str] = []
    model: str | None = None


class HarvestSources(BaseModel):
    """The files `kgx eval harvest` reads; only `harvest` is required."""

    model_config = ConfigDict(extra="forbid")

    harvest: Path
    relations: Path | None = None
    heldout_seeds: int | None = Field(default=None, ge=1)
    gold: Path | None = None
    kb: Path | None = None
    baseline: Path | None = None
    ks: list[int] = [10, 50, 100]


class Diversity(BaseModel):
    """How varied a set of tuples is."""

    tuples: int
    """Lines read, repeats included."""
    distinct_tuples: int
    distinct_entities: int
    """Distinct entity strings over all slots."""
    distinct_per_slot: list[int]
    distinct_entity_tuple_share: float
    """Share of distinct tuples whose entities all differ from each other: (x, x) does not."""


class RelationScores(BaseModel):
    """Every figure for one relation of the harvest."""

    relation: str
    gold: int
    precision_at: dict[str, float | None]
    """k → share of the top-k tuples (fewer if the harvest is shorter) in the gold set."""
    recall_at: dict[str, float | None]
    """k → share of the gold set found in the top-k tuples."""
    recall: float | None
    """Share of the gold set found anywhere in the harvest."""
    gold_found: list[list[str]]
    kb_tuples: int
    novel: int | None
    novelty: float | None
    """Share of the distinct tuples not in the KB for this relation."""
    diversity: Diversity


class BaselineComparison(BaseModel):
    """One relation side by side with the baseline (e.g. BertNet's RoBERTa-large run)."""

    relation: str
    ours_tuples: int
    baseline_tuples: int
    ours_entities: int
    baseline_entities: int
    overlap: int
    novelty_vs_baseline: float
    ours_precision_at: dict[str, float | None]
    baseline_precision_at: dict[str, float | None]


class BaselineTable(BaseModel):
    """The comparison with a baseline over the relations both have."""

    file: str
    rows: list[BaselineComparison]
    ours_macro_precision_at: dict[str, float | None]
    baseline_macro_precision_at: dict[str, float | None]
    only_in_harvest: list[str]


class HarvestReport(BaseModel):
    """Harvest evaluation figures per relation, averaged, and against a baseline."""

    harvest_file: str
    models: list[str]
    ks: list[int]
    gold_sources: list[str]
    kb_file: str | None
    relations: list[RelationScores]
    macro_precision_at: dict[str, float | None]
    """Mean over the relations that have gold."""
    macro_recall_at: dict[str, float | None]
    macro_recall: float | None
    novelty: float | None
    """Novel distinct tuples over all distinct tuples, all relations pooled."""
    diversity: Diversity
    """All relations pooled; a tuple counts once per relation it is harvested for."""
    baseline: BaselineTable | None = None


# -- reading -----------------------------------------------------------------------------------

def normalise_entity(text: str) -> str:
    """An entity as compared: underscores to spaces, casefolded, spaces collapsed."""
    return " ".join(text.replace("_", " ").casefold().split())


def normalise_tuple(entities: Iterable[str]) -> Entities:
    """A tuple of normalised entities."""
    return tuple(normalise_entity(e) for e in entities)


def parse_cutoffs(text: str) -> list[int]:
    """`"10,50,100"` as sorted distinct cut-offs, or a `ConfigError`."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as e:
        raise ConfigError(f"--k {text!r}: give comma-separated whole numbers such as "
                          "10,50,100.") from e
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k {text!r}: give at least one cut-off, each 1 or more.")
    return ks


def load_harvest(path: Path) -> list[HarvestedTuple]:
    """Every line of a `kgx harvest` JSONL file; an empty file is an error."""
    rows = []
    for number, record in read_jsonl(path):
        try:
            rows.append(HarvestedTuple.model_validate(record))
        except ValidationError as e:
            raise InputError(f"{path}:{number}: not a harvested tuple ({_first_error(e)}); "
                             'expected {"relation": ..., "entities": [...], "score": ..., '
                             '"rank": ...}.') from e
    if not rows:
        raise InputError(f"{path} has no harvested tuples; run `kgx harvest` first or check "
                         "the file.")
    return rows


def rank_harvest(rows: Sequence[HarvestedTuple]) -> Ranked:
    """Each relation's distinct tuples, by rank, else by score descending, else file order."""
    ranked: dict[str, list[Entities]] = {row.relation: [] for row in rows}
    for row in sorted(rows, key=lambda t: (t.rank is None, t.rank or 0, -(t.score or 0.0))):
        ranked[row.relation].append(normalise_tuple(row.entities))
    return {relation: _distinct(tuples) for relation, tuples in ranked.items()}


def load_seeds(path: Path) -> dict[str, list[Entities]]:
    """Each relation's seed tuples, in file order, from a BertNet relation file."""
    data = read_json(path)
    if isinstance(data, dict) and ("seeds" in data or "prompt" in data):
        data = {data.get("name", path.stem): {"seed_ent_tuples": data.get("seeds", [])}}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a BertNet relation file (relation name → "
                         '{"init_prompts", "seed_ent_tuples", "prompts"}).')
    return {relation: [normalise_tuple(t) for t in _tuples_of(spec, path, relation)]
            for relation, spec in data.items()}


def heldout_gold(seeds: dict[str, list[Entities]], count: int) -> TupleSets:
    """The last `count` seeds of each relation: those `kgx harvest --holdout` kept out."""
    return {relation: set(tuples[-count:]) for relation, tuples in seeds.items()}


def load_gold(path: Path, known: set[str]) -> TupleSets:
    """Gold JSONL ({"relation", "entities"} per line); a relation outside `known` is an error."""
    gold: TupleSets = {}
    for number, record in read_jsonl(path):
        relation, entities = _relation_line(record, f"{path}:{number}")
        if relation not in known:
            raise InputError(f"{path}:{number}: unknown relation {relation!r}; the harvest has "
                             f"{', '.join(sorted(known))}. Fix the name or drop the line.")
        gold.setdefault(relation, set()).add(normalise_tuple(entities))
    return gold


def load_kb(path: Path) -> TupleSets:
    """A KB to measure novelty against: JSONL of {"relation", "entities"}, or BertNet JSON."""
    if path.suffix.lower() == ".json":
        return {relation: set(tuples) for relation, tuples in load_ranked(path).items()}
    kb: TupleSets = {}
    for number, record in read_jsonl(path):
        relation, entities = _relation_line(record, f"{path}:{number}")
        kb.setdefault(relation, set()).add(normalise_tuple(entities))
    return kb


def load_ranked(path: Path) -> Ranked:
    """BertNet results JSON (relation → {"ent_tuples": [[[e0, e1], score], ...]}), in order.

    A BertNet relation file (`seed_ent_tuples`) reads as its seeds.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f'{path}: expected a JSON object of relation → {{"ent_tuples": ...}}.')
    return {relation: _distinct(normalise_tuple(t) for t in _tuples_of(spec, path, relation))
            for relation, spec in data.items()}


def _tuples_of(spec: Any, path: Path, relation: str) -> list[list[str]]:
    """One relation's entity lists: its `ent_tuples` ([[e0, e1], score]) or `seed_ent_tuples`."""
    key = "ent_tuples" if isinstance(spec, dict) and "ent_tuples" in spec else "seed_ent_tuples"
    raw = spec.get(key) if isinstance(spec, dict) else None
    if isinstance(raw, list):
        where = f"{path}: relation {relation!r}"
        return [string_list(_entities_part(t), where, key) for t in raw]
    raise InputError(f'{path}: relation {relation!r} has no "ent_tuples" or '
                     '"seed_ent_tuples" list; is this a BertNet file?')


def _entities_part(item: Any) -> Any:
    """[[e0, e1], score] → [e0, e1]; a bare [e0, e1] as is."""
    return item[0] if isinstance(item, list) and item and isinstance(item[0], list) else item


def _relation_line(record: dict[str, Any], where: str) -> tuple[str, list[str]]:
    relation = record.get("relation")
    if not isinstance(relation, str) or not relation:
        raise InputError(f'{where}: "relation" must be a non-empty string.')
    return relation, string_list(record.get("entities"), where, "entities")


def _distinct(tuples: Iterable[Entities]) -> list[Entities]:
    return list(dict.fromkeys(tuples))


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'line'}: {first['msg']}"


# -- scoring -----------------------------------------------------------------------------------

def precision_at(ranked: Sequence[Entities], gold: set[Entities], k: int) -> float | None:
    """Share of the top-k tuples in `gold`; None without gold or tuples."""
    top = ranked[:k]
    if not gold or not top:
        return None
    return sum(t in gold for t in top) / len(top)


def recall_at(ranked: Sequence[Entities], gold: set[Entities], k: int | None) -> float | None:
    """Share of `gold` among the top-k tuples (all of them when k is None); None without gold."""
    if not gold:
        return None
    return len(gold.intersection(ranked[:k])) / len(gold)


def diversity(tuples: Sequence[Entities], lines: int) -> Diversity:
    """Distinct tuples and entities of `tuples` (distinct already), read from `lines` lines."""
    arity = max((len(t) for t in tuples), default=0)
    slots = [{t[i] for t in tuples if i < len(t)} for i in range(arity)]
    distinct = sum(len(set(t)) == len(t) for t in tuples)
    return Diversity(tuples=lines, distinct_tuples=len(tuples),
                     distinct_entities=len(set().union(*slots)),
                     distinct_per_slot=[len(s) for s in slots],
                     distinct_entity_tuple_share=distinct / len(tuples) if tuples else 0.0)


def evaluate_sources(sources: HarvestSources) -> HarvestReport:
    """Load every file `sources` names and evaluate the harvest."""
    check_sources(sources)
    rows = load_harvest(sources.harvest)
    ranked = rank_harvest(rows)
    gold, labels = _gold(sources, set(ranked))
    kb = load_kb(sources.kb) if sources.kb else None
    table = (compare_baseline(ranked, load_ranked(sources.baseline), gold, sources.ks,
                              str(sources.baseline)) if sources.baseline else None)
    return evaluate_harvest(rows, sources.ks, gold, kb).model_copy(update={
        "harvest_file": str(sources.harvest), "gold_sources": labels, "baseline": table,
        "kb_file": str(sources.kb) if sources.kb else None})


def check_sources(sources: HarvestSources) -> None:
    """A `ConfigError` when --relations and --heldout-seeds do not come together."""
    if sources.heldout_seeds and not sources.relations:
        raise ConfigError("--heldout-seeds needs --relations RELATIONS.json, the file the "
                          "harvest was run with.")
    if sources.relations and not sources.heldout_seeds:
        raise ConfigError("--relations is read for its held-out seeds: add --heldout-seeds N, "
                          "the N given to `kgx harvest --holdout`.")


def _gold(sources: HarvestSources, harvested: set[str]) -> tuple[TupleSets, list[str]]:
    gold: TupleSets = {}
    labels = []
    if sources.relations and sources.heldout_seeds:
        seeds = load_seeds(sources.relations)
        gold = heldout_gold(seeds, sources.heldout_seeds)
        labels.append(f"last {sources.heldout_seeds} seeds per relation of {sources.relations}")
        harvested = harvested | set(seeds)
    if sources.gold:
        for relation, tuples in load_gold(sources.gold, harvested).items():
            gold.setdefault(relation, set()).update(tuples)
        labels.append(str(sources.gold))
    return gold, labels


def evaluate_harvest(rows: Sequence[HarvestedTuple], ks: Sequence[int], gold: TupleSets,
                     kb: TupleSets | None = None) -> HarvestReport:
    """Precision/recall against `gold`, novelty against `kb` and diversity, per relation."""
    if not rows:
        raise InputError("The harvest is empty: nothing to evaluate.")
    ranked, lines = rank_harvest(rows), Counter(row.relation for row in rows)
    scores = [_relation_scores(relation, tuples, lines[relation], gold.get(relation, set()),
                               kb, ks) for relation, tuples in ranked.items()]
    novel = [s.novel for s in scores if s.novel is not None]
    return HarvestReport(
        harvest_file="", models=sorted({row.model for row in rows if row.model}),
        ks=list(ks), gold_sources=[], kb_file=None, relations=scores,
        macro_precision_at={str(k): _mean(s.precision_at[str(k)] for s in scores) for k in ks},
        macro_recall_at={str(k): _mean(s.recall_at[str(k)] for s in scores) for k in ks},
        macro_recall=_mean(s.recall for s in scores),
        novelty=sum(novel) / sum(s.diversity.distinct_tuples for s in scores) if kb else None,
        diversity=diversity([t for tuples in ranked.values() for t in tuples], len(rows)))


def _relation_scores(relation: str, tuples: list[Entities], lines: int, gold: set[Entities],
                     kb: TupleSets | None, ks: Sequence[int]) -> RelationScores:
    known = kb.get(relation, set()) if kb is not None else set()
    novel = sum(t not in known for t in tuples) if kb is not None else None
    return RelationScores(
        relation=relation, gold=len(gold),
        precision_at={str(k): precision_at(tuples, gold, k) for k in ks},
        recall_at={str(k): recall_at(tuples, gold, k) for k in ks},
        recall=recall_at(tuples, gold, None),
        gold_found=[list(t) for t in tuples if t in gold], kb_tuples=len(known), novel=novel,
        novelty=novel / len(tuples) if novel is not None else None,
        diversity=diversity(tuples, lines))


def compare_baseline(ours: Ranked, baseline: Ranked, gold: TupleSets, ks: Sequence[int],
                     file: str = "") -> BaselineTable:
    """Our harvest against a baseline's ranked tuples, over the relations both have."""
    rows = [_compare(relation, ours[relation], baseline[relation], gold.get(relation, set()), ks)
            for relation in ours if relation in baseline]
    return BaselineTable(
        file=file, rows=rows, only_in_harvest=[r for r in ours if r not in baseline],
        ours_macro_precision_at={str(k): _mean(r.ours_precision_at[str(k)] for r in rows)
                                 for k in ks},
        baseline_macro_precision_at={str(k): _mean(r.baseline_precision_at[str(k)]
                                                   for r in rows) for k in ks})


def _compare(relation: str, ours: list[Entities], theirs: list[Entities], gold: set[Entities],
             ks: Sequence[int]) -> BaselineComparison:
    overlap = len(set(ours) & set(theirs))
    return BaselineComparison(
        relation=relation, ours_tuples=len(ours), baseline_tuples=len(theirs),
        ours_entities=diversity(ours, len(ours)).distinct_entities,
        baseline_entities=diversity(theirs, len(theirs)).distinct_entities, overlap=overlap,
        novelty_vs_baseline=1 - overlap / len(ours) if ours else 0.0,
        ours_precision_at={str(k): precision_at(ours, gold, k) for k in ks},
        baseline_precision_at={str(k): precision_at(theirs, gold, k) for k in ks})


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
