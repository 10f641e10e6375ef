"""BertNet knowledge harvesting with causal LMs: paraphrase, weight, search, rescore, store.

    from kgx.harvest import harvest_relation, load_relations
    [relation] = load_relations(Path("capital.json"))
    result = harvest_relation(load_llm("hf:local"), relation, top_n=100)

Modules: `relation` (BertNet and short relation files), `prompts` (paraphrases and weights),
`search` (depth-first candidate search over next-token distributions), `scoring` (BertNet's
tuple score through the LLM layer's `score`), `harvest` (the whole run, JSONL and store batch).
"""

from __future__ import annotations

from kgx.lazy import lazy_exports

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


__getattr__ = lazy_exports("kgx.harvest", _LAZY)
