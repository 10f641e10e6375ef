"""SynthKG, direct and APS end to end through the CLI, against the real llama.cpp server with
SmolLM2, into both stores. A 135M model extracts poorly, so these check the machinery: schema-valid
replies, provenance, call counts and what lands in the store."""

from __future__ import annotations

import json

import pytest

from kgx.cli import app
from kgx.graphdb import open_store

DOCS = [
    {"id": "ada", "text": "Ada Lovelace was an English mathematician. She wrote the first "
                          "program for the Analytical Engine of Charles Babbage."},
    {"id": "curie", "text": "Marie Curie was born in Warsaw. She won the Nobel Prize in "
                            "Physics in 1903 with Pierre Curie."},
]
CAP = "160"  # tokens a reply: SmolLM2-135M tends to repeat itself until the cap


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return path


def _extract(runner, corpus, each_store_uri, server, extractor: str, *extra: str) -> str:
    spec = f"openai:{server.model}@{server.url}"
    result = runner.invoke(app, ["extract", str(corpus), "--store", each_store_uri, "--extractor",
                                 extractor, "--llm", spec, "--on-error", "skip-and-record",
                                 "--llm-max-tokens", CAP, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _run_record(each_store_uri: str):
    with open_store(each_store_uri) as store:
        [run] = store.runs()
        return run, json.loads(run.llm_usage)


def test_e2e_synthkg(runner, corpus, each_store_uri, llama_server):
    output = _extract(runner, corpus, each_store_uri, llama_server, "synthkg")
    assert "2 documents written" in output and "LLM usage:" in output
    assert "per document: " in output and " LLM calls, " in output
    run, usage = _run_record(each_store_uri)
    # one chunk a document: entities + propositions, no decontextualization; plus repairs
    assert usage["llm_calls"] == 2 * 2 + usage["repairs"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    with open_store(each_store_uri, read_only=True) as store:
        facts = store.query(
            "MATCH (a:Entity)-[r:RELATION]->(b:Entity) RETURN r.extractor AS extractor, "
            "r.model AS model, r.prompt_version AS prompt, r.proposition_id AS pid, "
            "r.run_id AS run").records()
        propositions = store.query(
            "MATCH (p:Proposition)-[:FROM_CHUNK]->(c:Chunk) RETURN p.id AS id, "
            "p.prompt_version AS prompt").records()
    ids = {p["id"] for p in propositions}
    assert all(p["prompt"] == "synthkg.relations.v1" for p in propositions)
    for fact in facts:
        assert fact == {"extractor": "synthkg.v1", "model": llama_server.model,
                        "prompt": "synthkg.relations.v1", "pid": fact["pid"], "run": run.id}
        assert fact["pid"] in ids
    assert usage["failures"] < usage["llm_calls"]  # some replies parsed; none lost silently
    again = _extract(runner, corpus, each_store_uri, llama_server, "synthkg")
    assert "0 documents written, 2 already done" in again


def test_e2e_direct_dry_run_then_run(runner, corpus, each_store_uri, llama_server):
    dry = _extract(runner, corpus, each_store_uri, llama_server, "direct", "--dry-run")
    assert "Dry run: 2 LLM calls" in dry
    _extract(runner, corpus, each_store_uri, llama_server, "direct")
    _, usage = _run_record(each_store_uri)
    assert usage["llm_calls"] == 2 + usage["repairs"]
    with open_store(each_store_uri, read_only=True) as store:
        extractors = store.query("MATCH ()-[r:RELATION]->() RETURN DISTINCT r.extractor AS x"
                                 ).rows
        documents = store.query("MATCH (d:Document) RETURN count(d) AS n").scalar()
    assert extractors in ([], [["direct.v1"]]) and documents == 2


def test_e2e_propositions(runner, corpus, each_store_uri, llama_server, tmp_path):
    out = tmp_path / "props.jsonl"
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    result = runner.invoke(app, ["propositions", str(corpus), "-o", str(out), "--store",
                                 each_store_uri, "--llm", spec, "--on-error", "skip-and-record",
                                 "--llm-max-tokens", CAP])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    with open_store(each_store_uri, read_only=True) as store:
        stored = store.query("MATCH (p:Proposition)-[:FROM_CHUNK]->(c:Chunk) "
                             "RETURN p.text AS text, p.start_char AS start").records()
    assert sum(len(line["propositions"]) for line in lines) == len(stored)
    texts = {d["text"] for d in DOCS}
    for line in lines:
        assert any(line["sentence"] in text for text in texts)
        assert set(line) == {"doc_id", "chunk_id", "sentence_index", "sentence", "start",
                             "end", "propositions"}
    _, usage = _run_record(each_store_uri)
    assert usage["llm_calls"] == 2 + usage["repairs"]
