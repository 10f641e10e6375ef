"""Kill a real `kgx extract` process with SIGKILL mid-corpus, resume it, and compare the graph."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kgx.export import export_graph
from kgx.graphdb import open_store

CORPUS = Path(__file__).parent / "fixtures" / "multihop_50.jsonl"
BATCH = "2"


def _kgx(*args: str) -> list[str]:
    return [sys.executable, "-m", "kgx.cli", *args]


def _extract(store: str, *extra: str) -> subprocess.CompletedProcess:
    command = _kgx("extract", str(CORPUS), "--store", store, "--batch-documents", BATCH, *extra)
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)


def _extract_and_kill(store: str, after_commits: int) -> None:
    """Start an extraction and SIGKILL it once `after_commits` batches are committed."""
    command = _kgx("extract", str(CORPUS), "--store", store, "--batch-documents", BATCH, "-v")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    commits = 0
    for line in process.stderr:
        commits += "committed" in line
        if commits >= after_commits:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def _snapshot(store_uri: str, out: Path) -> list[dict]:
    """The exported graph with run ids replaced by a placeholder, sorted."""
    with open_store(store_uri, read_only=True) as store:
        export_graph(store, "jsonl", out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for record in records:
        if "run_id" in record:
            record["run_id"] = "RUN"
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.mark.slow  # extracts in subprocesses
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    _extract_and_kill(killed, after_commits=3)
    with open_store(killed, read_only=True) as store:
        partial = store.counts()["Document"]
        runs = store.runs()
    assert 0 < partial < 50, f"expected a partial graph, found {partial} documents"
    assert [r.status for r in runs] == ["running"]

    resumed = _extract(killed, "--resume")
    assert "already done" in resumed.stderr
    _extract(clean)

    assert _snapshot(killed, tmp_path / "k.jsonl") == _snapshot(clean, tmp_path / "c.jsonl")
    with open_store(killed, read_only=True) as store:
        run_ids = store.query("MATCH ()-[r:RELATION]->() RETURN DISTINCT r.run_id").rows
        assert run_ids == [[runs[0].id]], "a resumed run keeps the interrupted run's id"
        assert [r.status for r in store.runs()] == ["complete"]


@pytest.mark.slow  # extracts in subprocesses
def test_resume_rerun_of_finished_corpus_writes_nothing_new(tmp_path):
    store = str(tmp_path / "g")
    _extract(store)
    with open_store(store, read_only=True) as graph:
        before = graph.counts()
    second = _extract(store)
    assert "0 documents written" in second.stderr.replace("\n", " ")
    with open_store(store, read_only=True) as graph:
        assert graph.counts() == before


@pytest.mark.neo4j
def test_resume_after_sigkill_on_neo4j(tmp_path, neo4j_store, neo4j_uri):
    _extract_and_kill(neo4j_uri, after_commits=3)
    partial = neo4j_store.counts()["Document"]
    assert 0 < partial < 50
    _extract(neo4j_uri, "--resume")
    clean = str(tmp_path / "clean")
    _extract(clean)
    assert _snapshot(neo4j_uri, tmp_path / "n.jsonl") == _snapshot(clean, tmp_path / "c.jsonl")
