"""LLM extraction runs finish: failed chunks are recorded on the Run, and only they are retried."""

from __future__ import annotations

import json

import pytest

from kgx.cli.extract import check_outcome
from kgx.errors import ExtractionError, LLMOutputError
from kgx.extractors.direct import DirectExtractor
from kgx.extractors.llm_facts import StepFailure
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.llm.managed import ManagedLLM
from kgx.pipeline import ExtractConfig, ExtractReport, extract_corpus
from kgx.run_failures import open_failures
from kgx.testing.fake_llm import FakeLLM

TEXTS = {"ada": "Ada Lovelace worked with Charles Babbage.",
         "marie": "Marie Curie was born in Warsaw.",
         "alan": "Alan Turing studied at Cambridge."}


def _graph(request) -> str:
    """A good direct.graph.v1 reply naming the first two capitalised pairs of the passage."""
    text = request.messages[-1].content.split("PASSAGE:\n")[1].split("\n")[0]
    words = [w.strip(".") for w in text.split() if w[0].isupper()]
    a, b = " ".join(words[:2]), " ".join(words[2:4]) or words[-1]
    return json.dumps({"entities": [{"name": a, "type": "PERSON"}, {"name": b, "type": "GPE"}],
                       "triples": [{"subject": a, "predicate": "relates to", "object": b}]})


def _replies(bad: str):
    """Good replies, except for the passage containing `bad`: malformed twice (and repaired)."""
    def reply(request):
        if bad in request.prompt_text():
            return "the reply is not JSON"
        return _graph(request)
    return reply


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in TEXTS.items()))
    return path


def _direct(fake: FakeLLM, **options) -> DirectExtractor:
    return DirectExtractor(ManagedLLM(fake, **options))


def test_run_failures_are_recorded_and_the_run_finishes(tmp_path, corpus):
    config = ExtractConfig(extractor="direct")
    assert config.llm.on_error == "skip-and-record"
    fake = FakeLLM([_replies("Marie")] * 4, model="small")
    with LadybugStore(tmp_path / "g") as store:
        report = extract_corpus([corpus], store, config,
                                extractor=_direct(fake, on_error=config.llm.on_error))
        [run] = store.runs()
        stored = store.query("MATCH (a)-[r:RELATION]->() RETURN a.name ORDER BY a.name").rows
    assert report.documents_written == 3 and run.status == "complete"
    [failure] = report.failures
    assert failure.step == "direct.graph.v1" and "not valid JSON" in failure.error
    assert json.loads(run.failures) == [{"chunk_id": failure.chunk_id, "step": failure.step,
                                         "error": failure.error}]
    assert stored == [["Ada Lovelace"], ["Alan Turing"]]
    check_outcome(report)  # some chunks were extracted: exit code 0


def test_run_failures_retry_re_extracts_only_failed_chunks_with_another_llm(tmp_path, corpus):
    config = ExtractConfig(extractor="direct")
    with LadybugStore(tmp_path / "g") as store:
        extract_corpus([corpus], store, config,
                       extractor=_direct(FakeLLM([_replies("Marie")] * 4, model="small"),
                                         on_error="skip-and-record"))
        [failed] = open_failures(store.runs())
        bigger = FakeLLM([_graph], model="bigger")  # one reply queued: one call allowed
        report = extract_corpus([corpus], store, config, retry_failed=True,
                                extractor=_direct(bigger, on_error="skip-and-record"))
        assert [r.key for r in bigger.requests] == [failed]
        assert report.retried == [failed] and report.failures == []
        assert open_failures(store.runs()) == {}
        rows = store.query("MATCH (a)-[r:RELATION]->() RETURN a.name, r.model "
                           "ORDER BY a.name").rows
        assert rows == [["Ada Lovelace", "small"], ["Alan Turing", "small"],
                        ["Marie Curie", "bigger"]]
        again = extract_corpus([corpus], store, config, retry_failed=True,
                               extractor=_direct(FakeLLM([]), on_error="skip-and-record"))
    assert again.documents_seen == 0 and again.documents_written == 0


def test_run_failures_retry_that_fails_again_keeps_the_chunk_open(tmp_path, corpus):
    config = ExtractConfig(extractor="direct")
    with LadybugStore(tmp_path / "g") as store:
        extract_corpus([corpus], store, config,
                       extractor=_direct(FakeLLM([_replies("Marie")] * 4),
                                         on_error="skip-and-record"))
        [first] = open_failures(store.runs())
        extract_corpus([corpus], store, config, retry_failed=True,
                       extractor=_direct(FakeLLM(["[]"] * 2), on_error="skip-and-record"))
        [(chunk, [record])] = open_failures(store.runs()).items()
    assert chunk == first and "schema" in record["error"]  # the retry's own error


def test_run_failures_on_error_raise_still_stops(tmp_path, corpus):
    with LadybugStore(tmp_path / "g") as store, pytest.raises(LLMOutputError):
        extract_corpus([corpus], store, ExtractConfig(extractor="direct"),
                       extractor=_direct(FakeLLM([_replies("Ada")] * 4), on_error="raise"))


def test_run_failures_exit_code_only_when_nothing_was_extracted():
    report = ExtractReport("r", "direct.v1", documents_seen=2, chunks=2,
                           failures=[StepFailure("c1", "direct.graph.v1", "cut off"),
                                     StepFailure("c2", "direct.graph.v1", "cut off")])
    with pytest.raises(ExtractionError, match=r"every one of the 2 chunks failed.*retry-failed"):
        check_outcome(report)
    report.failures.pop()
    check_outcome(report)


@pytest.mark.slow
def test_run_failures_cli_exit_code_and_retry_with_the_bundled_model(runner, tmp_path,
                                                                      monkeypatch):
    """Real llama.cpp: replies cut at 4 tokens all fail (exit 1, recorded on the Run); a retry
    with room re-sends just those chunks and extracts them."""
    from kgx.cli import app
    from kgx.graphdb import open_store

    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n"
                              for k, v in list(TEXTS.items())[:2]))
    store = str(tmp_path / "store")
    args = ["extract", str(corpus), "--store", store, "--extractor", "direct", "--llm", "local"]
    cut = runner.invoke(app, [*args, "--llm-max-tokens", "4"])
    assert cut.exit_code != 0 and "every one of the 2 chunks failed" in str(cut.exception)
    with open_store(store, read_only=True) as graph:
        assert len(open_failures(graph.runs())) == 2
    retry = runner.invoke(app, [*args, "--retry-failed", "--llm-max-tokens", "400"])
    assert retry.exit_code == 0, retry.output
    with open_store(store, read_only=True) as graph:
        runs = graph.runs()
        newest = runs[0]
    assert len(json.loads(newest.retried)) == 2
    usage = json.loads(newest.llm_usage)
    assert usage["llm_calls"] - usage.get("repairs", 0) == 2  # the two failed chunks, no more
    assert len(open_failures(runs)) == len(json.loads(newest.failures))
