"""`QueryRunner`: quick embedded queries on the event loop, the rest on worker threads, every
query with its full time limit (real LadybugDB, no HTTP)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from kgx.errors import QueryTimeoutError
from kgx.graphdb import open_store
from kgx.serve.graph import GraphService
from kgx.serve.models import QueryRequest
from kgx.serve.query_runner import QueryRunner

# Quick when no entity has type $t; far beyond any time limit here when 400 do (400 choose 4 =
# 1.05e9 ordered quadruples: 3 entities, 1.06e7 of them, counted in 0.44 s on a quiet machine,
# inside the 0.5 s limit the test needs it to exceed).
TRIPLES = ("MATCH (a:Entity), (b:Entity), (c:Entity), (d:Entity) WHERE a.type = $t "
           "AND a.name < b.name AND b.name < c.name AND c.name < d.name RETURN count(*) AS n")


class CountingThreads(ThreadPoolExecutor):
    """A real thread pool that counts the calls handed to it."""

    submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def graph(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        store.query("UNWIND range(1, 400) AS i CREATE (:Entity {id: 'e' + string(i), "
                    "name: 'name ' + string(i), type: 'PERSON'})", write=True)
        yield GraphService(store, max_rows=100, query_timeout_s=0.5)


def run(runner: QueryRunner, cypher: str, **params):
    return asyncio.run(runner.run(QueryRequest(cypher=cypher, params=params)))


def runner_for(graph: GraphService, **options) -> QueryRunner:
    runner = QueryRunner(graph, **options)
    runner.threads.shutdown()
    runner.threads = CountingThreads(2)
    return runner


def test_query_runner_runs_a_quick_cypher_inline_after_its_first_run(graph):
    # "Quick" up to 1 s: a 400-node count takes milliseconds, but not always under 0.1 s at load 7.
    runner = runner_for(graph, inline=True, quick_s=1.0)
    count = "MATCH (e:Entity) WHERE e.type = $t RETURN count(e) AS n"
    replies = [run(runner, count, t="PERSON") for _ in range(3)]
    assert all(b'"rows":[[400]]' in reply for reply in replies)
    assert runner.threads.submitted == 1  # the first run only: nothing known about it before
    for _ in range(2):  # on a thread, then inline: the same row cap
        capped = json.loads(run(runner, "MATCH (e:Entity) RETURN e.id AS id"))
        assert len(capped["rows"]) == 100 and capped["truncated"] and capped["row_cap"] == 100
    assert runner.threads.submitted == 2
    runner.close()


def test_query_runner_gives_a_slow_turn_of_a_quick_cypher_its_full_time_limit(graph):
    runner = runner_for(graph, inline=True, quick_s=0.1, budget_s=0.005)
    for _ in range(3):
        assert b'"rows":[[0]]' in run(runner, TRIPLES, t="NONE")
    before = runner.threads.submitted
    with pytest.raises(QueryTimeoutError, match=r"longer than 0\.5 s"):
        run(runner, TRIPLES, t="PERSON")  # stopped inline at 5 ms, then 0.5 s on a thread
    assert runner.threads.submitted == before + 1
    runner.close()


def test_query_runner_without_inline_uses_its_threads_for_every_query(graph):
    runner = runner_for(graph, inline=False, quick_s=0.1)
    for _ in range(3):
        run(runner, "MATCH (e:Entity) RETURN count(e) AS n")
    assert runner.threads.submitted == 3
    runner.close()
