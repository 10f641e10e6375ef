"""`kgx harvest` end to end with the bundled SmolLM2 (llama.cpp in process), into both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgx.cli import app
from kgx.graphdb import open_store
from kgx.ids import normalize_name

RELATIONS = Path(__file__).parent / "fixtures" / "harvest_rel" / "conceptnet_2.json"


@pytest.mark.slow
def test_harvest_real_model_end_to_end(each_store_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "harvest.jsonl"
    result = CliRunner().invoke(app, [
        "harvest", str(RELATIONS), "--relation", "AtLocation", "--llm", "local",
        "--top-n", "5", "--store", each_store_uri, "--out", str(out), "--holdout", "1",
        "--no-paraphrase", "--max-prompts", "3", "--k", "5", "--max-expansions", "40"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(lines) <= 5
    assert [line["rank"] for line in lines] == list(range(1, len(lines) + 1))
    assert all(len(line["entities"]) == 2 and line["relation"] == "AtLocation"
               for line in lines)
    scores = [line["score"] for line in lines]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    with open_store(each_store_uri, read_only=True) as store:
        stored = store.query(
            "MATCH (a:Entity)-[r:RELATION]->(b:Entity) WHERE r.predicate = $p "
            "RETURN a.name AS a, b.name AS b, r.extractor AS x, r.confidence AS c",
            {"p": "AtLocation"}).records()
    def key(pair):
        return tuple(normalize_name(name) for name in pair)

    assert {key((r["a"], r["b"])) for r in stored} == {key(line["entities"]) for line in lines}
    assert all(len(set(key(line["entities"]))) == 2 for line in lines)  # no (x, x) tuples
    assert all(r["x"] == "bertnet.harvest.v1" and 0 < r["c"] <= 1 for r in stored)
