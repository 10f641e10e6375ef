"""A real extraction by the student in llama.cpp, killed (SIGKILL) after its first commit, resumes
without redoing the committed documents: checked through the LLM call counts on the Run node."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from kgx.graphdb import open_store

DOCS = ["Ada Lovelace was born in London.", "Marie Curie was born in Warsaw.",
        "Alan Turing studied at Cambridge.", "Grace Hopper worked for the US Navy."]
EXTRACT = ["extract", "--extractor", "student", "--llm", "student-llamacpp",
           "--batch-documents", "1", "--no-cache", "-v"]


def _kgx(corpus, store, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kgx.cli", *EXTRACT, str(corpus), "--store", str(store), *extra]


def _run_state(store):
    with open_store(str(store), read_only=True) as graph:
        [run] = graph.runs()
        done = graph.completed_documents("student.v1")
        ids = graph.query("MATCH ()-[r:RELATION]->() RETURN r.id").rows
    return run, json.loads(run.llm_usage), done, [row[0] for row in ids]


@pytest.mark.slow
def test_kill_after_first_commit_resume_redoes_nothing(tmp_path):
    corpus, store = tmp_path / "docs.jsonl", tmp_path / "store"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                              for i, t in enumerate(DOCS)))
    process = subprocess.Popen(_kgx(corpus, store), stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:  # the pipeline logs each commit after the Run node is saved
        seen.append(line)
        if "committed 1/" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen)

    run, before, done, _ = _run_state(store)
    assert run.status == "running" and 1 <= len(done) < len(DOCS)
    assert before["llm_calls"] - before.get("repairs", 0) == len(done)  # one call a document

    resumed = subprocess.run(_kgx(corpus, store, "--resume"), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(DOCS) - len(done)} documents written, {len(done)} already done" in \
        resumed.stderr
    again, after, finished, relation_ids = _run_state(store)
    calls = after["llm_calls"] - before["llm_calls"]
    repairs = after.get("repairs", 0) - before.get("repairs", 0)
    assert again.id == run.id and again.status == "complete" and len(finished) == len(DOCS)
    assert calls - repairs == len(DOCS) - len(done)  # the committed documents were not redone
    assert again.documents == len(DOCS)
    assert len(relation_ids) == len(set(relation_ids))  # no fact written twice
