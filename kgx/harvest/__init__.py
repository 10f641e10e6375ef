"""BertNet knowledge harvesting with causal LMs: paraphrase, weight, search, rescore, store.

    from kgx.harvest import harvest_relation, load_relations
    [relation] = load_relations(Path("capital.json"))
    result = harvest_relation(load_llm("hf:local"), relation, top_n=100)

Modules: `relation` (BertNet and short relation files), `prompts` (paraphrases and weights),
`search` (depth-first candidate search over next-token distributions), `scoring` (BertNet's
tuple score through the LLM layer's `score`), `harvest` (the whole run, JSONL and store batch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Relation": "relation", "load_relations": "relation",
    "harvest_relation": "harvest", "HarvestResult": "harvest", "harvest_batch": "harvest",
    "write_jsonl": "harvest", "rescore": "harvest",
    "prompt_set": "prompts", "weigh_prompts": "prompts",
    "CandidateSearch": "search", "score_tuples": "scoring",
}
__all__ = ["CandidateSearch", "HarvestResult", "Relation", "harvest_batch", "harvest_relation",
           "load_relations", "prompt_set", "rescore", "score_tuples", "weigh_prompts",
           "write_jsonl"]


def __getattr__(name: str) -> Any:
    """Import public names on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(f"kgx.harvest.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'kgx.harvest' has no attribute {name!r}")
