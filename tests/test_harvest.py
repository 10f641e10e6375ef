"""BertNet harvesting: relation files, scoring, prompt weights and the search, with scripted LMs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kgx.errors import InputError
from kgx.harvest.harvest import harvest_batch, harvest_relation, rescore
from kgx.harvest.prompts import corrupt, prompt_set, weigh_prompts
from kgx.harvest.relation import Relation, load_relations
from kgx.harvest.scoring import LEAD, combine, entity_logprobs, fill, score_request
from kgx.harvest.search import CandidateSearch
from kgx.llm.types import ScoredText

FIXTURES = Path(__file__).parent / "fixtures" / "harvest_rel"
CAPITAL = Relation(name="capital_of", init_prompts=("<ENT0> is the capital of <ENT1> .",),
                   seeds=(("Paris", "France"), ("Rome", "Italy"), ("Lima", "Peru")))


class ScriptedLM:
    """A tiny causal LM: next tokens and word log-probs from tables (whitespace tokens)."""

    model = "scripted"

    def __init__(self, next_table: dict[str, list[tuple[str, float]]], good: set[str]) -> None:
        self.next_table, self.good, self.prefixes = next_table, good, []

    def next_tokens(self, prefixes, k):
        self.prefixes += prefixes
        return [self.next_table.get(p.split()[-1] if p.split() else "", [(" the", -5.0)])[:k]
                for p in prefixes]

    def score(self, requests):
        out = []
        for r in requests:
            tokens = [(" " if i or r.continuation.startswith(" ") else "") + w
                      for i, w in enumerate(r.continuation.split())]
            out.append(ScoredText(tuple(tokens), tuple(
                -0.5 if t.strip() in self.good else -4.0 for t in tokens)))
        return out


def test_harvest_loads_bertnet_and_short_relations(tmp_path):
    relations = load_relations(FIXTURES / "conceptnet_2.json")
    assert [r.name for r in relations] == ["AtLocation", "CapableOf"]
    assert relations[0].seeds[0] == ("flotation device", "boat") and relations[0].arity == 2
    short = tmp_path / "capital.yaml"
    short.write_text("name: capital_of\nprompt: <ENT0> is the capital of <ENT1> .\n"
                     "seeds: [[Paris, France]]\n")
    [relation] = load_relations(short)
    assert relation.init_prompts == ("<ENT0> is the capital of <ENT1> .",)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "prompt": "<ENT0> and <ENT2>", "seeds": [["a", "b"]]}))
    with pytest.raises(InputError, match="must use each of"):
        load_relations(bad)


def test_harvest_relations_with_three_slots():
    relation = Relation(name="trio", init_prompts=("<ENT0> gave <ENT1> to <ENT2> .",),
                        seeds=(("Ada", "a book", "Bob"),))
    filled = fill(relation.init_prompts[0], ("Ada", "a book", "Bob"))
    assert filled.text == LEAD + "Ada gave a book to Bob ."
    assert [filled.text[s:e] for s, e in filled.spans] == ["Ada", "a book", "Bob"]


def test_harvest_scores_only_entity_tokens():
    filled = fill("The capital of <ENT1> is <ENT0> .", ("Paris", "France"))
    request = score_request(filled)
    assert request.prompt == LEAD + "The capital of" and request.continuation.startswith(" France")
    scored = ScoredText((" France", " is", " Paris", " ."), (-1.0, -0.1, -2.0, -0.3))
    assert entity_logprobs(filled, request, scored) == [-1.0, -2.0]
    assert combine([-1.0, -2.0], 2) == pytest.approx((-1.5 + -1.5 + -2.0) / 3)
    assert combine([], 2) == -math.inf


def test_harvest_weights_prefer_prompts_that_tell_seeds_from_corrupted_ones():
    assert corrupt([("a", "b"), ("c", "d")]) == [("a", "d"), ("c", "b")]
    lm = ScriptedLM({}, good={"Paris", "France", "Rome", "Italy", "Lima", "Peru"})
    weights = dict(weigh_prompts(lm, ["<ENT0> is the capital of <ENT1> .",
                                      "<ENT0> , <ENT1> ."], CAPITAL.seeds))
    assert math.isclose(sum(weights.values()), 1.0) and all(w >= 0.05 for w in weights.values())


def test_harvest_prompt_set_dedupes_fuzzy_paraphrases():
    class Paraphraser(ScriptedLM):
        def generate(self, requests, on_error=None):
            from kgx.harvest.prompts import Paraphrases
            from kgx.llm.types import LLMResponse

            reply = Paraphrases(paraphrases=["<ENT0> is the capital of <ENT1>.",
                                             "<ENT1>'s capital city is <ENT0> .",
                                             "a prompt without slots"])
            return [LLMResponse(key=requests[0].key, text="", parsed=reply)]

    prompts = prompt_set(Paraphraser({}, set()), CAPITAL)
    assert prompts == ["<ENT0> is the capital of <ENT1> .", "<ENT1>'s capital city is <ENT0> ."]


def test_harvest_search_finds_tuples_and_prunes():
    table = {"": [(" Paris", -0.2), (" Rome", -0.5), (" the", -1.0), (" Zzz", -9.0)],
             "Paris": [(" is", -0.1), ("ian", -3.0)], "Rome": [(" is", -0.2)],
             "of": [(" France", -0.3), (" Italy", -0.4), (" capital", -0.5)],
             "France": [(" .", -0.1)], "Italy": [(" .", -0.1)], "capital": [(" .", -0.1)],
             "Zzz": [(" is", -0.1)]}
    lm = ScriptedLM(table, good=set())
    weighted = [("<ENT0> is the capital of <ENT1> .", 1.0)]
    everything = CandidateSearch(lm, CAPITAL, weighted, top_n=4, k=4)
    assert set(dict(everything.run())) == {("Paris", "France"), ("Paris", "Italy"),
                                           ("Rome", "France"), ("Rome", "Italy")}
    # "the" is a stopword, "capital" a word of the prompt, " Zzz" too unlikely to matter
    best_two = CandidateSearch(lm, CAPITAL, weighted, top_n=2, k=4)
    assert dict(best_two.run()) == {("Paris", "France"): -0.3, ("Paris", "Italy"): -0.4}
    assert best_two.stats.pruned > everything.stats.pruned  # Rome's branch fell below the 2nd
    assert 0 < best_two.stats.pruned_share < 1
    one_each = CandidateSearch(lm, CAPITAL, weighted, top_n=4, k=4, max_per_entity=1)
    firsts = [entities[0] for entities, _ in one_each.run()]
    assert len(firsts) == len(set(firsts)) and {"Paris", "Rome"} <= set(firsts)
    assert LEAD + "Paris is the capital of" in lm.prefixes  # the next slot: entity filled in


def test_harvest_end_to_end_with_a_scripted_lm_and_store_batch():
    table = {"": [(" Paris", -0.2), (" Rome", -0.5)], "Paris": [(" is", -0.1)],
             "Rome": [(" is", -0.2)], "of": [(" France", -0.3), (" Italy", -0.4)],
             "France": [(" .", -0.1)], "Italy": [(" .", -0.1)]}
    lm = ScriptedLM(table, good={"Paris", "France"})
    result = harvest_relation(lm, CAPITAL, top_n=3, holdout=1, paraphrase=False)
    assert result.held_out == [("Lima", "Peru")]
    assert result.tuples[0][0] == ("Paris", "France")
    assert [line["rank"] for line in result.lines()] == list(range(1, len(result.tuples) + 1))
    batch = harvest_batch(result, run_id="r1")
    [paris] = [r for r in batch.relations if r.subject.name == "Paris" and
               r.object.name == "France"]
    assert paris.predicate == "capital_of" and paris.provenance.extractor == "bertnet.harvest.v1"
    assert paris.evidence == "Paris is the capital of France ." and 0 < paris.confidence <= 1
    assert rescore(lm, result.prompts, []) == []
