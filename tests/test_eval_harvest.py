"""`kgx eval harvest`: precision@k, novelty, diversity and the baseline table, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgx.cli import app
from kgx.errors import ConfigError, InputError
from kgx.evaluation.harvest import (
    HarvestSources,
    evaluate_sources,
    load_kb,
    load_seeds,
    parse_cutoffs,
)
from kgx.evaluation.harvest_report import harvest_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "harvest"
BASELINE = FIXTURES / "baseline_2rel.json"
RELATIONS = FIXTURES / "relations_2rel.json"
SMALL_HARVEST = FIXTURES / "harvest_small.jsonl"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _line(relation: str, entities: list[str], rank: int | None = None) -> dict:
    return {"relation": relation, "entities": entities, "score": -float(rank or 0),
            "rank": rank, "prompts": ["<ENT0> r <ENT1> ."], "model": "tiny.gguf"}


@pytest.fixture
def hand_built(tmp_path):
    """R: 5 lines, 4 distinct tuples (one (a, a)); S: 2 tuples; gold and KB by hand."""
    harvest = _jsonl(tmp_path / "harvest.jsonl", [
        _line("R", ["e", "f"], 5), _line("R", ["a", "b"], 1), _line("R", ["c", "d"], 2),
        _line("R", ["a", "a"], 3), _line("R", ["A", "b "], 4),
        _line("S", ["x", "y"], 1), _line("S", ["z", "y"], 2)])
    gold = _jsonl(tmp_path / "gold.jsonl", [
        {"relation": "R", "entities": ["a", "b"]}, {"relation": "R", "entities": ["e", "f"]},
        {"relation": "R", "entities": ["g", "h"]}, {"relation": "S", "entities": ["q", "r"]}])
    kb = _jsonl(tmp_path / "kb.jsonl", [
        {"relation": "R", "entities": ["C", "d"]}, {"relation": "R", "entities": ["a", "b"]},
        {"relation": "T", "entities": ["x", "y"]}])
    return HarvestSources(harvest=harvest, gold=gold, kb=kb, ks=[2, 4])


def test_eval_harvest_precision_recall_exact(hand_built):
    report = evaluate_sources(hand_built)
    r, s = report.relations
    assert (r.relation, s.relation) == ("R", "S")
    assert r.precision_at == {"2": 0.5, "4": 0.5}
    assert r.recall_at == pytest.approx({"2": 1 / 3, "4": 2 / 3})
    assert r.recall == pytest.approx(2 / 3) and r.gold == 3
    assert r.gold_found == [["a", "b"], ["e", "f"]]
    assert s.precision_at == {"2": 0.0, "4": 0.0} and s.recall == 0.0
    assert report.macro_precision_at == {"2": 0.25, "4": 0.25}
    assert report.macro_recall_at["4"] == pytest.approx(1 / 3)


def test_eval_harvest_novelty_exact(hand_built):
    report = evaluate_sources(hand_built)
    r, s = report.relations
    assert (r.novel, r.novelty, r.kb_tuples) == (2, 0.5, 2)
    assert (s.novel, s.novelty, s.kb_tuples) == (2, 1.0, 0)
    assert report.novelty == pytest.approx(4 / 6)


def test_eval_harvest_diversity_exact(hand_built):
    report = evaluate_sources(hand_built)
    r, s = report.relations
    assert r.diversity.model_dump() == {
        "tuples": 5, "distinct_tuples": 4, "distinct_entities": 6, "distinct_per_slot": [3, 4],
        "distinct_entity_tuple_share": 0.75}
    assert (s.diversity.distinct_entities, s.diversity.distinct_per_slot) == (3, [2, 1])
    overall = report.diversity
    assert (overall.tuples, overall.distinct_tuples, overall.distinct_entities) == (7, 6, 9)
    assert overall.distinct_per_slot == [5, 5]
    assert overall.distinct_entity_tuple_share == pytest.approx(5 / 6)


def test_eval_harvest_without_gold_or_kb_says_n_a(hand_built):
    report = evaluate_sources(hand_built.model_copy(update={"gold": None, "kb": None}))
    assert report.relations[0].precision_at == {"2": None, "4": None}
    assert report.novelty is None and report.macro_recall is None
    assert "| R | 5 | 4 | 0 | n/a | n/a |" in harvest_markdown(report)


def test_eval_harvest_heldout_seeds_are_the_last_n(tmp_path):
    seeds = load_seeds(RELATIONS)
    assert seeds["HasProperty"][1] == ("pocket notebook", "small")
    harvest = _jsonl(tmp_path / "h.jsonl", [
        _line("HasProperty", ["milk", "white"], 1), _line("HasProperty", ["gun", "dangerous"], 2)])
    report = evaluate_sources(HarvestSources(harvest=harvest, relations=RELATIONS,
                                             heldout_seeds=2, ks=[1, 2]))
    assert report.relations[0].precision_at == {"1": 1.0, "2": 0.5}
    assert report.relations[0].gold == 2


def test_eval_harvest_kb_reads_bertnet_json():
    kb = load_kb(BASELINE)
    assert len(kb["MadeOf"]) == 30
    assert ("solar windshield", "solar cells") in kb["MadeOf"]


def test_eval_harvest_baseline_table():
    report = evaluate_sources(HarvestSources(harvest=SMALL_HARVEST, relations=RELATIONS,
                                             heldout_seeds=4, baseline=BASELINE,
                                             ks=[2, 10, 20]))
    table = report.baseline
    assert table is not None and table.only_in_harvest == ["IsA"]
    made, prop = table.rows
    assert (made.relation, made.ours_tuples, made.baseline_tuples) == ("MadeOf", 4, 30)
    assert (made.ours_entities, made.baseline_entities, made.overlap) == (8, 53, 2)
    assert made.novelty_vs_baseline == 0.5
    assert made.ours_precision_at == {"2": 0.5, "10": 0.5, "20": 0.5}
    assert made.baseline_precision_at == {"2": 0.0, "10": 0.1, "20": 0.05}
    assert (prop.ours_tuples, prop.baseline_entities, prop.overlap) == (3, 45, 1)
    assert prop.novelty_vs_baseline == pytest.approx(2 / 3)
    assert prop.ours_precision_at == pytest.approx({"2": 1.0, "10": 2 / 3, "20": 2 / 3})
    assert prop.baseline_precision_at == {"2": 0.0, "10": 0.0, "20": 0.05}
    assert table.baseline_macro_precision_at == pytest.approx({"2": 0.0, "10": 0.05,
                                                               "20": 0.05})
    markdown = harvest_markdown(report)
    assert "| MadeOf | 4 | 30 | 8 | 53 | 2 | 0.500 | 0.500 / 0.000 |" in markdown
    assert "Not in the baseline: IsA." in markdown


def test_eval_harvest_cutoffs_parse_or_fail():
    assert parse_cutoffs("100, 10,50,10") == [10, 50, 100]
    for bad in ("ten", "0,5", ""):
        with pytest.raises(ConfigError, match="--k"):
            parse_cutoffs(bad)


def test_cli_eval_harvest_writes_reports(runner, tmp_path):
    result = runner.invoke(app, [
        "eval", "harvest", str(SMALL_HARVEST), "--out", str(tmp_path), "--relations",
        str(RELATIONS), "--heldout-seeds", "4", "--baseline", str(BASELINE), "--kb",
        str(BASELINE), "--k", "2,10"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "## BertNet harvest evaluation" in result.output
    assert {p.name for p in tmp_path.iterdir()} == {"harvest.json", "harvest.md", "harvest.png"}
    report = json.loads((tmp_path / "harvest.json").read_text())
    assert [r["relation"] for r in report["relations"]] == ["MadeOf", "HasProperty", "IsA"]
    assert report["models"] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert report["relations"][0]["novelty"] == 0.5
    assert (tmp_path / "harvest.png").read_bytes().startswith(b"\x89PNG")


def _error(runner, tmp_path, *args: str) -> BaseException:
    result = runner.invoke(app, ["eval", "harvest", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    return result.exception


def test_cli_eval_harvest_bad_json_line_names_file_and_line(runner, tmp_path):
    harvest = tmp_path / "h.jsonl"
    harvest.write_text(json.dumps(_line("R", ["a", "b"], 1)) + "\n\n{not json\n")
    error = _error(runner, tmp_path, str(harvest))
    assert isinstance(error, InputError) and f"{harvest}:3:" in str(error)


def test_cli_eval_harvest_rejects_bad_inputs(runner, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert "no harvested tuples" in str(_error(runner, tmp_path, str(empty)))
    missing = _error(runner, tmp_path, str(tmp_path / "nope.jsonl"))
    assert isinstance(missing, InputError) and "does not exist" in str(missing)
    gold = _jsonl(tmp_path / "gold.jsonl", [{"relation": "MadeOf", "entities": ["a", "b"]},
                                            {"relation": "Nope", "entities": ["a", "b"]}])
    unknown = _error(runner, tmp_path, str(SMALL_HARVEST), "--gold", str(gold))
    assert isinstance(unknown, InputError) and f"{gold}:2: unknown relation 'Nope'" in str(
        unknown)
    lonely = _error(runner, tmp_path, str(SMALL_HARVEST), "--heldout-seeds", "2")
    assert isinstance(lonely, ConfigError) and "--relations" in str(lonely)


def test_cli_eval_harvest_line_without_entities_is_named(runner, tmp_path):
    harvest = _jsonl(tmp_path / "h.jsonl", [{"relation": "R", "score": 1.0}])
    error = _error(runner, tmp_path, str(harvest))
    assert isinstance(error, InputError) and f"{harvest}:1:" in str(error)
    assert "entities" in str(error)
