"""`kgx harvest`: BertNet relation harvesting from a causal LM, to JSONL and the graph store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kgx.cli.console import print_usage
from kgx.cli.options import LLMOption, NoCacheOption, StoreOption
from kgx.errors import ConfigError


def harvest(
    relations_file: Annotated[Path, typer.Argument(
        help="BertNet relation JSON (name -> init_prompts, seed_ent_tuples, prompts), or one "
             'relation as JSON/YAML: {"name", "prompt", "seeds"}')],
    relation: Annotated[list[str] | None, typer.Option(
        "--relation", "-r", help="Harvest only these relations (default: all in the file)")
    ] = None,
    llm: LLMOption = "local",
    top_n: Annotated[int, typer.Option(min=1, help="Tuples to keep per relation")] = 100,
    store: StoreOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL of the ranked tuples")
                   ] = Path("harvest.jsonl"),
    holdout: Annotated[int, typer.Option(
        min=0, help="Keep the last N seeds out of prompt weighting, for `kgx eval harvest`")] = 0,
    paraphrase: Annotated[bool, typer.Option(help="Add LLM paraphrases of the prompt")] = True,
    max_prompts: Annotated[int, typer.Option(min=1)] = 10,
    k: Annotated[int, typer.Option(min=2, help="Next tokens considered at each step")] = 10,
    max_entity_tokens: Annotated[int, typer.Option(min=1)] = 3,
    max_expansions: Annotated[int, typer.Option(
        min=1, help="Budget of next-token calls per relation")] = 2000,
    max_per_entity: Annotated[int, typer.Option(
        min=1, help="Tuples kept per first entity (spreads the search budget)")] = 3,
    no_cache: NoCacheOption = False,
) -> None:
    """Harvest entity tuples of each relation from the LLM (BertNet with a causal LM).

    Paraphrases the prompt (fuzzy de-duplicated), weights the prompts with the seeds against
    corrupted seeds, searches entity token sequences depth first with pruning, rescores every
    candidate with the weighted BertNet score, and keeps the top N. Tuples go to --out and to
    the store as RELATION edges whose predicate is the relation name, with provenance
    `bertnet.harvest.v1` (model, prompt set, score as confidence).
    """
    from kgx.graphdb import open_store
    from kgx.harvest import harvest_batch, harvest_relation, load_relations, write_jsonl
    from kgx.llm.spec import LLMSettings, load_llm

    chosen = _choose(load_relations(relations_file), relation)
    console = Console(stderr=True)
    results = []
    with load_llm(llm, LLMSettings(spec=llm, cache=not no_cache)) as client:
        for spec in chosen:
            console.print(f"harvesting {spec.name} ({len(spec.seeds)} seeds)…")
            result = harvest_relation(client, spec, top_n=top_n, holdout=holdout,
                                      paraphrase=paraphrase, max_prompts=max_prompts, k=k,
                                      max_entity_tokens=max_entity_tokens,
                                      max_expansions=max_expansions,
                                      max_per_entity=max_per_entity)
            results.append(result)
        print_usage(console, client)
    write_jsonl(results, out)
    with open_store(store) as graph:
        for result in results:
            graph.upsert(harvest_batch(result))
        uri = graph.uri
    _print(console, results, out, uri)


def _choose(relations, names: list[str] | None):
    if not names:
        return relations
    known = {r.name: r for r in relations}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"no relation {', '.join(missing)} in the file; it has: "
                          f"{', '.join(known)}")
    return [known[n] for n in names]


def _print(console: Console, results, out: Path, uri: str) -> None:
    table = Table(title=f"harvest → {out} and {uri}")
    for column in ("relation", "prompts", "candidates", "next-token calls", "pruned",
                   "seconds", "top tuples"):
        table.add_column(column, overflow="fold")
    for r in results:
        top = "; ".join(" | ".join(e) for e, _ in r.tuples[:5])
        table.add_row(r.relation, str(len(r.prompts)), str(r.stats.candidates),
                      str(r.stats.expansions), f"{r.stats.pruned_share:.0%}",
                      f"{r.seconds:.0f}", top)
    console.print(table)
