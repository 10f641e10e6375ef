"""`kgx ask` end to end: queued LLM replies through `load_llm`, and one real model."""

from __future__ import annotations

import json

import pytest

from kgx.cli import app
from kgx.errors import LLMOutputError
from kgx.graphdb import open_store
from kgx.llm.managed import ManagedLLM
from kgx.testing.fake_llm import FakeLLM, json_reply
from kgx.testing.graphs import ada_batch

QUESTION = "Who designed the Analytical Engine?"
DESIGNERS = ("MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.predicate = 'designed' "
             "RETURN s.name AS who, o.name AS what")


@pytest.fixture
def ada_store(tmp_path):
    uri = str(tmp_path / "store")
    with open_store(uri) as graph:
        graph.upsert(ada_batch())
    return uri


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A FakeLLM that `kgx ask` gets from `load_llm`, whatever --llm says."""
    backend = FakeLLM()
    monkeypatch.setattr("kgx.llm.spec.load_llm", lambda spec, settings=None: ManagedLLM(
        backend, on_error=settings.on_error, max_tokens=settings.max_tokens))
    return backend


def _ask(runner, *args: str):
    return runner.invoke(app, ["ask", QUESTION, *args])


def test_cli_ask_text2cypher_prints_answer_passages_and_cypher(runner, each_store_uri, fake):
    with open_store(each_store_uri) as graph:
        graph.upsert(ada_batch())
    fake.queue(json_reply(cypher=DESIGNERS),
               json_reply(answer="Charles Babbage", citations=[1, 9]))
    result = _ask(runner, "-r", "text2cypher", "--store", each_store_uri, "-k", "1",
                  "--answerer", "llm")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Answer: Charles Babbage [1]  (llm answerer)\n")
    assert "  grounding: a span of passage 1\n" in out
    assert "[1] cited Babbage (wiki-2) · chunk chk_" in out
    assert "    Charles Babbage designed the Analytical Engine." in out
    assert "    fact: Charles Babbage | Analytical Engine" in out
    assert f"Cypher (ran read-only):\n  {DESIGNERS} LIMIT 50" in out
    assert "[2]" not in out  # --top-k 1
    assert "passages from the text2cypher retriever" in out
    assert "LLM usage: 2 calls" in result.output  # on stderr


def test_cli_ask_json_is_one_object(runner, ada_store, fake):
    fake.queue(json_reply(cypher=DESIGNERS), "not json", "still not json")
    result = _ask(runner, "-r", "text2cypher", "--store", ada_store, "--json",
                  "--on-error", "skip-and-record", "--answerer", "llm")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "JSON" in report["answer_error"]
    assert report["grounding"].startswith("the LLM gave no usable answer")
    assert report["cypher"] == f"{DESIGNERS} LIMIT 50" and report["retrieval_error"] is None
    assert [c["title"] for c in report["chunks"]] == ["Babbage", "Ada"]
    assert report["chunks"][0]["evidence"] == ["Charles Babbage | Analytical Engine"]


def test_cli_ask_failed_text2cypher_is_an_error_or_recorded(runner, ada_store, fake):
    fake.queue(*[json_reply(cypher="MATCH (e:Entity) DETACH DELETE e")] * 2)
    result = _ask(runner, "-r", "text2cypher", "--store", ada_store)
    assert result.exit_code != 0 and isinstance(result.exception, LLMOutputError)
    assert "only read queries" in str(result.exception)
    fake.queue(*[json_reply(cypher="MATCH (e:Entity) DETACH DELETE e")] * 2,
               json_reply(answer="Babbage", citations=[1]))
    result = _ask(runner, "-r", "text2cypher", "--store", ada_store, "--on-error",
                  "skip-and-record", "--answerer", "llm")
    assert result.exit_code == 0, result.output
    assert "Retrieval failed: text2cypher" in result.stdout
    assert "0 passages from the text2cypher retriever." in result.stdout
    # No passage holds "Babbage" and no entity is called that: the graph abstains instead.
    assert "Answer: not found in the graph  (graph answerer, confidence 0.00)" in result.stdout
    assert "grounding: the LLM's answer 'Babbage' is not in the passages or the graph: " \
           "abstained" in result.stdout
    with open_store(ada_store, read_only=True) as graph:
        assert graph.counts()["Entity"] == 4


def test_cli_ask_no_answer_without_an_llm(runner, ada_store, monkeypatch):
    def no_llm(*args, **kwargs):
        raise AssertionError("--no-answer with bm25 must not load an LLM")

    monkeypatch.setattr("kgx.llm.spec.load_llm", no_llm)
    result = _ask(runner, "-r", "bm25", "--store", ada_store, "--no-answer", "-k", "1")
    assert result.exit_code == 0, result.output
    assert not result.stdout.startswith("Answer")
    assert "1 passages from the bm25 retriever:" in result.stdout
    assert "Babbage" in result.stdout and "Cypher" not in result.stdout


def test_cli_ask_answers_from_the_graph_without_loading_an_llm(runner, ada_store, monkeypatch):
    def no_llm(*args, **kwargs):
        raise AssertionError("the graph answerer must not load an LLM")

    monkeypatch.setattr("kgx.llm.spec.load_llm", no_llm)
    result = _ask(runner, "--store", ada_store, "-r", "dense", "-k", "2")
    assert result.exit_code == 0, result.output
    first, *rest = result.stdout.splitlines()
    assert first.startswith("Answer: Charles Babbage [") and "(graph answerer, confidence" in first
    assert any(line.startswith("  fact: ") for line in rest[:4])


def test_cli_ask_help_names_the_retrievers(runner):
    result = runner.invoke(app, ["ask", "--help"])
    assert result.exit_code == 0
    for word in ("text2cypher", "--top-k", "--json", "--no-answer", "--llm-max-tokens",
                 "--answerer", "--grounded"):
        assert word in result.output


def test_cli_ask_real_llm(runner, ada_store, llama_server, monkeypatch, tmp_path):
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    result = _ask(runner, "-r", "text2cypher", "--store", ada_store, "--llm", spec,
                  "--on-error", "skip-and-record", "--llm-max-tokens", "160", "--json",
                  "--llm-timeout", "300", "--llm-retries", "1",  # a shared, busy CPU
                  "--answerer", "llm", "--no-grounded")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # SmolLM2-135M rarely writes good Cypher: the query ran, or the failure is recorded.
    assert report["cypher"] and (report["retrieval_error"] or "LIMIT" in report["cypher"])
    assert report["answerer"] == "llm" and report["grounding"] is not None
    assert all(1 <= n <= len(report["chunks"]) for n in report["citations"])


@pytest.mark.slow  # the local LLM
def test_cli_ask_hipporag2_retrieves_and_its_fact_filter_asks_the_llm(runner, ada_store, fake):
    fake.queue('{"facts": [1]}')
    result = _ask(runner, "--store", ada_store, "-r", "hipporag2", "--fact-filter", "llm",
                  "--no-answer", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["retriever"] == "hipporag2" and report["chunks"]
    assert "FACTS" in fake.requests[0].messages[-1].content  # the filter's prompt, one call
    assert len(fake.requests) == 1


def test_cli_ask_fact_filter_needs_hipporag2(runner, ada_store):
    result = _ask(runner, "--store", ada_store, "-r", "dense", "--fact-filter", "llm")

    assert result.exit_code != 0
    assert "--fact-filter llm applies to the hipporag2 retriever" in str(result.exception)
