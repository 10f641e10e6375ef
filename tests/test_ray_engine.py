"""`--engine ray` on a real local Ray cluster (2 CPUs, one per test session): the same graph as the
local engine on both stores, a killed actor and a killed driver leave no trace in the graph, and
the errors a user can hit name their fix."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from kgx.errors import ConfigError, MissingExtraError
from kgx.graphdb import open_store
from kgx.pipeline import ExtractConfig, extract_corpus
from kgx.testing.corpora import clear, kill_after, run_kgx, snapshot, spacy_extractor

pytestmark = pytest.mark.ray
cluster = pytest.mark.slow  # these start the session's Ray cluster

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "corpus"
NO_KGX = """import sys


class NoKgx:
    def find_spec(self, name, path=None, target=None):
        if name == "kgx" or name.startswith("kgx."):
            raise ModuleNotFoundError("No module named 'kgx'", name="kgx")


sys.meta_path.insert(0, NoKgx())
"""


def _ray_engine(**options):
    from kgx.ray_engine import RayEngine

    return RayEngine(workers=2, **options)


def _graph_of(uri: str, engine, batch_documents: int = 16, extractor=None):
    with open_store(uri) as store:
        clear(store)
        report = extract_corpus([SAMPLES], store, ExtractConfig(batch_documents=batch_documents),
                                engine=engine, extractor=extractor)
        return report, snapshot(store)


@cluster
def test_ray_engine_writes_the_local_engines_graph(ray_cluster, each_store_uri):
    local, expected = _graph_of(each_store_uri, "local", extractor=spacy_extractor())
    report, graph = _graph_of(each_store_uri, _ray_engine())
    assert graph == expected
    assert (report.documents_written, report.chunks, report.relations) == (
        local.documents_written, local.chunks, local.relations)
    assert report.documents_written == 61 and report.relations > 100


@cluster
def test_ray_engine_survives_a_killed_actor(ray_cluster, tmp_path):
    from kgx.extractors import get_extractor
    from kgx.testing.paced import PacedExtractor

    _, expected = _graph_of(str(tmp_path / "clean"), "local", 8, spacy_extractor())
    engine = _ray_engine()
    done: dict = {}
    progress: list[int] = []

    def run() -> None:
        with open_store(str(tmp_path / "killed")) as store:
            done["report"] = extract_corpus(
                [SAMPLES], store, ExtractConfig(batch_documents=8), engine=engine,
                extractor=PacedExtractor(get_extractor("spacy"), seconds=0.4),
                on_progress=lambda written, total: progress.append(written))
            done["graph"] = snapshot(store)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 120
    while not progress and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress, "no batch was written"
    victim = engine.worker_pids[0]
    os.kill(victim, 9)  # the actor's process, mid-run
    killed_at = progress[-1]
    worker.join(timeout=300)
    assert killed_at < 61 and not worker.is_alive()
    assert done["report"].documents_written == 61 and not done["report"].failures
    assert done["graph"] == expected


@cluster
def test_ray_engine_resumes_after_the_driver_is_killed(ray_cluster, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = (SAMPLES / "wiki_passages.jsonl").read_text().splitlines()
    corpus.write_text("".join(json.dumps({**json.loads(line), "id": f"{n}-{i}"}) + "\n"
                              for n in range(4) for i, line in enumerate(lines)))
    store = tmp_path / "store"
    args = ["extract", str(corpus), "--store", str(store), "--engine", "ray", "--ray-address",
            ray_cluster, "--batch-documents", "4", "-v"]
    kill_after(args, "committed", 2)
    with open_store(str(store), read_only=True) as graph:
        done = graph.completed_documents("spacy.svo.v1")
        [run] = graph.runs()
    assert run.status == "running" and 8 <= len(done) < 232

    resumed = run_kgx(*args, "--resume")
    assert f"{232 - len(done)} documents written, {len(done)} already done" in resumed.stderr
    with open_store(str(tmp_path / "clean")) as clean:
        extract_corpus([corpus], clean, ExtractConfig(batch_documents=4),
                       extractor=spacy_extractor())
        expected = snapshot(clean)
    with open_store(str(store), read_only=True) as graph:
        ids = [row[0] for row in graph.query("MATCH ()-[r:RELATION]->() RETURN r.id").rows]
        [again] = graph.runs()
        assert snapshot(graph) == expected
    assert len(ids) == len(set(ids)) and again.status == "complete" and again.id == run.id


@cluster
def test_ray_engine_cluster_without_gpu_is_a_clear_error(ray_cluster, tmp_path):
    with pytest.raises(ConfigError, match=r"--worker-gpus 1 asks for a GPU.*has 0 GPUs"):
        _graph_of(str(tmp_path / "store"), _ray_engine(worker_gpus=1))


@cluster
def test_ray_engine_worker_without_kgx_is_a_clear_error(ray_cluster, tmp_path):
    node = tmp_path / "node"  # a worker's Python where kgx is not installed
    node.mkdir()
    (node / "sitecustomize.py").write_text(NO_KGX)
    engine = _ray_engine(runtime_env={"env_vars": {"PYTHONPATH": str(node)}})
    with pytest.raises(ConfigError, match=r"Ray workers cannot import kgx.*kgx-graph\[ray\]"):
        _graph_of(str(tmp_path / "store"), engine)
    with open_store(str(tmp_path / "store"), read_only=True) as graph:
        assert graph.counts()["Document"] == 0


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_ray_engine_unreachable_address_is_a_clear_error(address, tmp_path):
    pytest.importorskip("ray")
    from kgx.ray_engine import RayEngine

    started = time.monotonic()
    with open_store(str(tmp_path / "store")) as store, pytest.raises(
            ConfigError, match=r"no Ray cluster answers at .*--ray-address"):
        extract_corpus([SAMPLES], store, ExtractConfig(), engine=RayEngine(address=address))
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("options, actors", [
    (["--workers", "3"], "3 extractor actors (--workers 3)"),
    (["--worker-cpus", "0.5"], f"{2 * (os.cpu_count() or 1)} extractor actors (a local Ray"),
    (["--ray-address", "ray://127.0.0.1:1"], None),
])
def test_ray_engine_dry_run_gives_each_actors_share(options, actors, tmp_path):
    """`--dry-run --engine ray` estimates without starting or reaching Ray: the actors a run
    would start and each one's share of the local estimate, labelled as such."""
    import math
    import re

    from typer.testing import CliRunner

    from kgx.cli import app
    from kgx.testing.corpora import PEOPLE, write_corpus

    corpus = write_corpus(tmp_path / "in", PEOPLE)
    common = ["extract", str(corpus), "--store", str(tmp_path / "store"), "--dry-run",
              "--extractor", "direct", "--llm", "openai:some-model@http://127.0.0.1:1/v1",
              "--llm-concurrency", "2"]
    local = CliRunner().invoke(app, common)
    ray = CliRunner().invoke(app, [*common, "--engine", "ray", *options])
    assert local.exit_code == 0 and ray.exit_code == 0, (local.output, ray.exception)
    assert ray.output.startswith(local.output)  # the same estimate, then the actors
    if actors is None:
        assert "does not contact; give --workers N" in ray.output
        return
    assert actors in ray.output and "at most 2 requests in flight from the whole cluster" in \
        ray.output
    workers = int(actors.split()[0])
    calls = int(re.search(r"Dry run: (\d+) LLM calls", local.output).group(1))
    assert "share (an estimate" in ray.output
    assert f": {math.ceil(calls / workers):,} LLM calls" in ray.output


def test_ray_engine_without_ray_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with open_store(str(tmp_path / "store")) as store, pytest.raises(
            MissingExtraError, match=r"pip install 'kgx-graph\[ray\]'"):
        extract_corpus([SAMPLES], store, ExtractConfig(), engine="ray")


@cluster
def test_ray_engine_llm_workers_share_one_concurrency_limit(ray_cluster, llama_server,
                                                            tmp_path):
    from kgx.llm.spec import LLMSettings
    from kgx.testing.corpora import PEOPLE, write_corpus
    from kgx.testing.fault_proxy import FaultProxy

    corpus = write_corpus(tmp_path / "in", {**PEOPLE, "d.txt": "Alan Turing studied at "
                                                               "Cambridge."})
    with FaultProxy(llama_server.url) as proxy, open_store(str(tmp_path / "store")) as store:
        llm = LLMSettings(spec=f"openai:{llama_server.model}@{proxy.url}", concurrency=1,
                          cache=False, on_error="skip-and-record", max_tokens=96)
        report = extract_corpus([corpus], store, ExtractConfig(extractor="direct", llm=llm),
                                engine=_ray_engine())
        [run] = store.runs()
    # two actors, each allowed one request at a time: only the cluster-wide gate keeps the
    # server at one request in flight
    assert proxy.max_in_flight == 1
    assert report.documents_written == 4 and report.chunks == 4
    calls = report.llm_usage["llm_calls"]
    assert calls >= 4 and calls == proxy.requests - 2  # every POST, less each actor's GET /models
    assert json.loads(run.llm_usage)["llm_calls"] == calls


@cluster
def test_ray_engine_counts_the_llm_usage_of_actors_that_died(ray_cluster, llama_server,
                                                            tmp_path):
    """An actor that dies once its LLM replies are in (as an out-of-memory kill would) loses
    its results, not its usage: the run counts every completion the server was asked for."""
    from kgx.llm.spec import LLMSettings
    from kgx.pipeline import make_extractor
    from kgx.testing.corpora import PEOPLE, write_corpus
    from kgx.testing.fault_proxy import FaultProxy
    from kgx.testing.paced import PoisonedExtractor

    corpus = write_corpus(tmp_path / "in", {**PEOPLE, "z.txt": "POISON: Alan Turing studied "
                                                               "at Cambridge."})
    with FaultProxy(llama_server.url) as proxy, open_store(str(tmp_path / "store")) as store:
        llm = LLMSettings(spec=f"openai:{llama_server.model}@{proxy.url}", cache=False,
                          on_error="skip-and-record", max_tokens=64)
        config = ExtractConfig(extractor="direct", llm=llm)
        extractor = PoisonedExtractor(make_extractor(config), "POISON", after_extracting=True)
        report = extract_corpus([corpus], store, config, extractor=extractor,
                                engine=_ray_engine(max_restarts=0))
        [run] = store.runs()
    died = [f for f in report.failures if f.step == "ray.worker"]
    assert len(died) == 1 and report.documents_written == 4
    assert proxy.posts > report.chunks  # the poisoned chunk was extracted on several actors
    assert report.llm_usage["llm_calls"] == proxy.posts
    assert json.loads(run.llm_usage)["llm_calls"] == proxy.posts


@cluster
def test_ray_engine_usage_outlives_the_ledger_and_counts_calls_in_flight(ray_cluster,
                                                                        llama_server, tmp_path):
    """Both extractor actors are killed while the server holds a request of each (their calls
    are retried on the restarted actors, which take back the LLM slots the dead ones held),
    then the usage ledger's process is killed (Ray restarts it empty): the run still counts
    every completion the server was asked for, the two that died in flight as failed calls."""
    from kgx.llm.spec import LLMSettings
    from kgx.testing.corpora import ADDED, PEOPLE, passages, write_corpus
    from kgx.testing.fault_proxy import FaultProxy

    corpus = write_corpus(tmp_path / "in", {**PEOPLE, **ADDED, **passages(8)})
    engine = _ray_engine()
    done: dict = {}
    progress: list[int] = []
    with FaultProxy(llama_server.url) as proxy:
        # 2 slots, both held by the requests lost: the restarted actors take them back
        llm = LLMSettings(spec=f"openai:{llama_server.model}@{proxy.url}", concurrency=2,
                          cache=False, on_error="skip-and-record", max_tokens=48)
        config = ExtractConfig(extractor="direct", llm=llm, batch_documents=1)

        def run() -> None:
            with open_store(str(tmp_path / "store")) as store:
                done["report"] = extract_corpus(
                    [corpus], store, config, engine=engine,
                    on_progress=lambda written, total: progress.append(written))
                [done["run"]] = store.runs()

        thread = threading.Thread(target=run)
        thread.start()
        _wait_for(lambda: engine.worker_pids)  # the actors are up, their GET /models done
        proxy.delay_next(2, 8.0)
        _wait_for(lambda: not proxy.faults and proxy.in_flight >= 2)
        for pid in engine.worker_pids:
            os.kill(pid, 9)  # each actor's one call (one document, one request) is in flight
        written = len(progress)
        _wait_for(lambda: len(progress) > written)  # the driver took results since
        assert thread.is_alive(), "the run ended before the ledger could be killed"
        os.kill(engine.ledger_pid, 9)
        thread.join(timeout=300)
    assert not thread.is_alive()
    report = done["report"]
    assert report.documents_written == 12
    assert report.llm_usage["llm_calls"] == proxy.posts > report.chunks
    assert report.llm_usage["failures"] >= 2  # the two lost requests, and any bad replies
    assert json.loads(done["run"].llm_usage)["llm_calls"] == proxy.posts


@cluster
def test_ray_engine_llm_requests_go_through_after_the_gate_is_killed(ray_cluster, llama_server,
                                                                    tmp_path):
    """The concurrency gate's process is killed while the server holds a request: Ray restarts
    the gate (empty; that request's release reaches a gate that never gave out its lease) and
    the run's later requests take its slots and go through."""
    from kgx.llm.spec import LLMSettings
    from kgx.testing.corpora import PEOPLE, passages, write_corpus
    from kgx.testing.fault_proxy import FaultProxy

    corpus = write_corpus(tmp_path / "in", {**PEOPLE, **passages(3)})
    engine = _ray_engine()
    with FaultProxy(llama_server.url) as proxy:
        llm = LLMSettings(spec=f"openai:{llama_server.model}@{proxy.url}", concurrency=1,
                          cache=False, on_error="skip-and-record", max_tokens=32)
        done = _extract_in_thread(tmp_path / "store", corpus, engine,
                                  ExtractConfig(extractor="direct", llm=llm, batch_documents=1))
        _wait_for(lambda: engine.worker_pids)  # the actors are up, their GET /models done
        proxy.delay_next(1, 3.0)
        _wait_for(lambda: not proxy.faults and proxy.in_flight >= 1)
        os.kill(engine.gate_pid, 9)
        posts = proxy.posts
        done["thread"].join(timeout=300)
    assert not done["thread"].is_alive()
    report = done["report"]
    assert report.documents_written == 6
    assert proxy.posts > posts  # requests were sent after the gate died
    assert report.llm_usage["llm_calls"] == proxy.posts
    assert not [f for f in report.failures if "Ray" in f.error or "actor" in f.error]


@cluster
def test_ray_engine_takes_back_the_llm_slot_of_an_actor_given_up_on(ray_cluster, llama_server,
                                                                   tmp_path):
    """At --llm-concurrency 1, the actors (no restarts) are killed while the server holds the
    one request allowed: Ray gives up on them, and the driver has the gate take their slots
    back at once, so the new actors' requests go through (not after GATE_LEASE_S, 15 min)."""
    from kgx.llm.spec import LLMSettings
    from kgx.testing.corpora import PEOPLE, write_corpus
    from kgx.testing.fault_proxy import FaultProxy

    corpus = write_corpus(tmp_path / "in", PEOPLE)
    engine = _ray_engine(max_restarts=0)
    with FaultProxy(llama_server.url) as proxy:
        llm = LLMSettings(spec=f"openai:{llama_server.model}@{proxy.url}", concurrency=1,
                          cache=False, on_error="skip-and-record", max_tokens=32)
        done = _extract_in_thread(tmp_path / "store", corpus, engine,
                                  ExtractConfig(extractor="direct", llm=llm, batch_documents=1))
        _wait_for(lambda: engine.worker_pids)
        proxy.delay_next(1, 3.0)
        _wait_for(lambda: not proxy.faults and proxy.in_flight >= 1)
        for pid in engine.worker_pids:
            os.kill(pid, 9)  # one holds the slot, the other waits for it
        posts = proxy.posts
        _wait_for(lambda: proxy.posts > posts, seconds=90)  # a new actor got the slot
        done["thread"].join(timeout=120)
    assert not done["thread"].is_alive()
    assert done["report"].documents_written == 3


def _extract_in_thread(store_path: Path, corpus: Path, engine, config: ExtractConfig) -> dict:
    """Start `extract_corpus` in a daemon thread (a run that hangs cannot hold up pytest);
    the dict gets its "thread", then its "report"."""
    done: dict = {}

    def run() -> None:
        with open_store(str(store_path)) as store:
            done["report"] = extract_corpus([corpus], store, config, engine=engine)

    done["thread"] = threading.Thread(target=run, daemon=True)
    done["thread"].start()
    return done


def test_concurrency_gate_takes_back_the_slots_of_dead_processes():
    """The gate without Ray (its methods are plain coroutines): a lease it never gave out is
    released harmlessly, and an actor's slots are taken back when it restarts or is given up
    on, its dead processes' waiting acquires refused."""
    import asyncio

    from kgx.ray_workers import ConcurrencyGate

    async def scenario() -> None:
        gate = ConcurrencyGate(1)
        await gate.release("a/old:lease-of-a-gate-before-a-restart")
        lease = await gate.acquire("a/p1")
        waiting = asyncio.ensure_future(gate.acquire("b/p1"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert await gate.forget_earlier("a", "a/p2") == 1  # actor a restarted: p1 is dead
        assert (await waiting).startswith("b/p1:")
        await gate.release(lease)  # p1's release, late: nothing to give back
        assert (await gate.stats())["held"] == 1
        refused = asyncio.ensure_future(gate.acquire("b/p1"))
        await asyncio.sleep(0.05)
        assert await gate.forget_actor("b") == 1  # actor b given up on
        with pytest.raises(RuntimeError, match="dead"):
            await refused
        assert (await gate.acquire("a/p2")).startswith("a/p2:")
        with pytest.raises(RuntimeError, match="dead"):
            await gate.acquire("a/p1")

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@cluster
def test_ray_engine_vllm_actors_by_contract_with_a_fake_engine(ray_cluster, tmp_path):
    """vLLM needs a GPU, which CI lacks: a fake `vllm` (tests/fixtures/fake_vllm) with the API
    kgx calls stands in on the workers; each actor builds its engine once and extracts."""
    from kgx.llm.spec import LLMSettings
    from kgx.testing.corpora import PEOPLE, write_corpus

    built = tmp_path / "engines"
    built.mkdir()
    fake = Path(__file__).parent / "fixtures" / "fake_vllm"
    engine = _ray_engine(runtime_env={"env_vars": {"PYTHONPATH": str(fake),
                                                   "FAKE_VLLM_LOG": str(built)}})
    llm = LLMSettings(spec="vllm:fake/model", cache=False, on_error="skip-and-record")
    corpus = write_corpus(tmp_path / "in", PEOPLE)
    with open_store(str(tmp_path / "store")) as store:
        report = extract_corpus([corpus], store, ExtractConfig(extractor="direct", llm=llm,
                                                               batch_documents=1),
                                engine=engine)
        models = {row[0] for row in store.query(
            "MATCH ()-[r:RELATION]->() RETURN DISTINCT r.model").rows}
    assert report.documents_written == 3 and report.relations >= 3 and not report.failures
    assert models == {"fake/model"}
    assert len(list(built.iterdir())) == 2  # one engine per actor, warmed once for every call
    assert report.llm_usage["llm_calls"] == report.chunks


@cluster
def test_ray_engine_records_a_document_that_keeps_killing_its_worker(ray_cluster, tmp_path):
    from kgx.testing.corpora import PEOPLE, write_corpus
    from kgx.testing.fakes import GazetteerExtractor
    from kgx.testing.paced import PoisonedExtractor

    corpus = write_corpus(tmp_path / "in", {**PEOPLE, "z.txt": "POISON for Ada Lovelace."})
    extractor = PoisonedExtractor(GazetteerExtractor({"Ada Lovelace": "PERSON",
                                                      "Charles Babbage": "PERSON"}), "POISON")
    with open_store(str(tmp_path / "store")) as store:
        report = extract_corpus([corpus], store, ExtractConfig(), extractor=extractor,
                                engine=_ray_engine(max_restarts=1))
        [run] = store.runs()
        done = store.completed_documents(extractor.name)
    assert report.documents_written == 4 and len(done) == 4
    assert [(f.step, "died" in f.error) for f in report.failures] == [("ray.worker", True)]
    assert json.loads(run.failures)[0]["chunk_id"] == report.failures[0].chunk_id
    assert report.relations > 0  # the other documents' facts were written
