"""The README's main job on both stores: `kgx extract` the sample corpus, then `kgx query` it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent.parent / "samples" / "corpus"
QUERY = ("MATCH (a:Entity)-[r:RELATION]->(b:Entity) WHERE a.type = $type "
         "RETURN a.name AS subject, r.predicate AS predicate, b.name AS object, r.doc_id AS doc "
         "ORDER BY subject, predicate, object")


def _kgx(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "kgx.cli", *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _extract_and_query(store: str) -> list[dict]:
    _kgx("extract", str(SAMPLES), "--store", store)
    out = _kgx("query", QUERY, "--store", store, "-p", "type=PERSON", "--format", "json")
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def embedded_store(tmp_path_factory):
    return str(tmp_path_factory.mktemp("quickstart") / "kgx-store")


@pytest.fixture(scope="module")
def embedded_rows(embedded_store):
    return _extract_and_query(embedded_store)


@pytest.mark.slow  # runs the quickstart and the real embedder in subprocesses
def test_quickstart_ask_answers_from_the_graph_with_its_path(embedded_rows, embedded_store):
    """The README's tour: `kgx ask` with the defaults (hybrid retrieval, the graph answerer:
    no LLM) answers the Ada Lovelace question and shows the path that supports it."""
    first, path, *_ = _kgx("ask", "Who did Ada Lovelace marry?", "--store",
                           embedded_store).splitlines()
    assert first.startswith("Answer: William King [") and "(graph answerer" in first
    assert path == "  path: Ada Lovelace -[marry]-> William King"


@pytest.mark.slow  # runs the quickstart in subprocesses
def test_quickstart_embedded_store_returns_relations(embedded_rows):
    assert len(embedded_rows) > 50
    assert {"subject": "Ada Lovelace", "predicate": "marry", "object": "William King"} in [
        {k: r[k] for k in ("subject", "predicate", "object")} for r in embedded_rows]


@pytest.mark.neo4j
def test_quickstart_neo4j_gives_the_same_answer(embedded_rows, neo4j_store, neo4j_uri):
    assert _extract_and_query(neo4j_uri) == embedded_rows
