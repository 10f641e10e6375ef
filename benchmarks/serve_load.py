"""Load-test `kgx serve` on loopback: 16 concurrent clients for 30 s, then HTTP overhead.

1. Builds the sample-corpus store with the spaCy extractor (or takes `--store`), starts a real
   `kgx serve` (uvicorn) on a free 127.0.0.1 port with the rate limit off, and runs
   `--clients` concurrent clients for `--seconds` against each of `/entities?q=`,
   `/entities/{id}/neighbourhood` and `/query` in turn, with names and ids from the store.
   Each client is a raw HTTP/1.1 keep-alive connection (`_raw_http.py`): the clients share the
   cores with the server, so they are kept cheap. It reports requests/s, p50/p95/p99 per
   endpoint and errors (any non-200 or failed call), and each endpoint's p50 from one client.
2. HTTP overhead: the same parameterised `/query` from one raw keep-alive client, alternating
   call by call with the same Cypher through `store.query` in process (both read-only, the
   server's time limit and row cap on both), so both see the same background load.
   `query_http_vs_inprocess_p50` is that ratio of medians. The in-process side is the store
   call alone: no JSON, which the server must add. Also reported: the same POST from
   `http.client` (a general client), GET /health (through FastAPI, no store call), and the
   ratio under the load of step 1.

Bounded in count and time, loopback only. The last line of stdout is one JSON object.

    python benchmarks/serve_load.py [--clients 16] [--seconds 30] [--store URI] [--neo4j]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from _common import log
from _raw_http import AsyncRawConnection, RawConnection

QUERY = ("MATCH (e:Entity)-[r:RELATION]->(o:Entity) WHERE e.id = $id "
         "RETURN o.name AS name, r.predicate AS predicate LIMIT 25")
MAX_REQUESTS = 1_000_000  # per client and endpoint: a bound besides the duration
SEQUENTIAL = 1000
SINGLE = 300  # calls to each endpoint from one client
KINDS = ("entities", "neighbourhood", "query")
JSON = {"Content-Type": "application/json"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def sample_inputs(store_uri: str) -> tuple[list[str], list[str]]:
    """Entity names to search and ids (with at least one fact) to expand and query."""
    from kgx.graphdb import open_store

    with open_store(store_uri, read_only=True) as store:
        names = [r[0] for r in store.query(
            "MATCH (e:Entity) WHERE e.type = 'PERSON' RETURN e.name ORDER BY e.id").rows]
        ids = [r[0] for r in store.query(
            "MATCH (e:Entity)-[:RELATION]->() RETURN DISTINCT e.id AS id ORDER BY id").rows]
    return names, ids


def endpoint_request(kind: str, rng: random.Random, names: list[str],
                     ids: list[str]) -> tuple[str, str, bytes, dict[str, str] | None]:
    """Method, path, body and headers of one request to the `kind` endpoint."""
    if kind == "entities":
        return "GET", f"/entities?{urlencode({'q': rng.choice(names)})}", b"", None
    if kind == "neighbourhood":
        return "GET", f"/entities/{quote(rng.choice(ids))}/neighbourhood?hops=1", b"", None
    body = json.dumps({"cypher": QUERY, "params": {"id": rng.choice(ids)}}).encode()
    return "POST", "/query", body, JSON


async def load(url: str, clients: int, seconds: float, names: list[str], ids: list[str]):
    """Latencies (ms) per endpoint, the errors and the seconds each endpoint's phase took:
    `clients` concurrent loops for `seconds` against one endpoint, then the next. Each loop has
    its own keep-alive connection (a raw HTTP/1.1 client: the load generator shares the cores
    with the server, so it is kept cheap)."""
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors = {"count": 0, "examples": []}
    elapsed = {}
    for kind in KINDS:
        started = time.perf_counter()
        await asyncio.gather(*(_client_loop(url, kind, random.Random(i), started + seconds,
                                            names, ids, latencies[kind], errors)
                               for i in range(clients)))
        elapsed[kind] = time.perf_counter() - started
    return latencies, errors, elapsed


async def _client_loop(url: str, kind: str, rng: random.Random, deadline: float,
                       names: list[str], ids: list[str], latencies: list[float],
                       errors: dict) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = AsyncRawConnection(host, int(port))
    await connection.connect()
    try:
        for _ in range(MAX_REQUESTS):
            if time.perf_counter() >= deadline:
                return
            method, path, body, headers = endpoint_request(kind, rng, names, ids)
            started = time.perf_counter()
            try:
                status, reply = await connection.request(method, path, body, headers)
                problem = f"{kind}: HTTP {status} {reply[:200]!r}"
            except (OSError, asyncio.IncompleteReadError) as e:
                status, problem = 0, f"{kind}: {type(e).__name__}: {e}"
            if status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
                continue
            errors["count"] += 1
            if len(errors["examples"]) < 5:
                errors["examples"].append(problem)
            if status == 0:  # the connection is gone
                return
    finally:
        await connection.close()


def single_client(url: str, names: list[str], ids: list[str], count: int) -> dict[str, float]:
    """p50 (ms) of each endpoint from one keep-alive client and nothing else running."""
    host, port = url.removeprefix("http://").split(":")
    rng, times = random.Random(2), {kind: [] for kind in KINDS}
    with RawConnection(host, int(port)) as connection:
        for turn in range(count * len(KINDS)):
            kind = KINDS[turn % 3]
            method, path, body, headers = endpoint_request(kind, rng, names, ids)
            times[kind].append(_timed(connection, method, path, body, headers))
    return {kind: statistics.median(values) for kind, values in times.items()}


def interleaved(url: str, store_uri: str, ids: list[str], count: int):
    """`count` rounds of: GET /health (no store call: the HTTP floor of any endpoint) and the
    same /query as a POST, both from one raw keep-alive connection, the same POST from
    `http.client` (a general client, for comparison), then the same `store.query` in process.
    Alternating them puts all under the same background load."""
    import http.client

    from kgx.graphdb import open_store

    host, port = url.removeprefix("http://").split(":")
    library = http.client.HTTPConnection(host, int(port), timeout=30)
    times = {"http": [], "local": [], "floor": [], "http_client": []}
    rng = random.Random(1)
    with (open_store(store_uri, read_only=True) as store,  # the server is --read-only too
          RawConnection(host, int(port)) as connection):
        store.query(QUERY, {"id": ids[0]})
        for _ in range(count):
            params = {"id": rng.choice(ids)}
            body = json.dumps({"cypher": QUERY, "params": params}).encode()
            times["floor"].append(_timed(connection, "GET", "/health"))
            times["http"].append(_timed(connection, "POST", "/query", body, JSON))
            times["http_client"].append(_timed_library(library, body))
            started = time.perf_counter()
            # What the server's /query calls: its time limit and row cap (+1 to see a cut).
            store.query(QUERY, params, timeout_s=10.0, max_rows=1001)
            times["local"].append((time.perf_counter() - started) * 1000)
    library.close()
    return times


def _timed(connection: RawConnection, method: str, path: str, body: bytes = b"",
           headers: dict[str, str] | None = None) -> float:
    """Milliseconds for one request on the keep-alive connection, the reply read; non-200 fails."""
    started = time.perf_counter()
    status, reply = connection.request(method, path, body, headers)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {reply[:200]!r}")
    return elapsed


def _timed_library(connection, body: bytes) -> float:
    """The same POST /query through `http.client`, in milliseconds."""
    started = time.perf_counter()
    connection.request("POST", "/query", body=body, headers=JSON)
    reply = connection.getresponse()
    reply.read()
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status != 200:
        raise RuntimeError(f"POST /query answered {reply.status}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--store", help="store to serve (default: the sample corpus, built)")
    parser.add_argument("--neo4j", action="store_true",
                        help="build the sample corpus in Neo4j (the test server unless "
                             "NEO4J_URI is set) instead of the embedded store")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 1 <= args.seconds <= 300:
        parser.error("--clients must be 1-64 and --seconds 1-300 (a bounded load test)")

    from kgx.testing.serve import build_sample_store

    workdir = Path(tempfile.mkdtemp(prefix="kgx-serve-load-"))
    with contextlib.ExitStack() as stack:
        store = args.store or (stack.enter_context(neo4j_store(workdir)) if args.neo4j
                               else str(workdir / "store"))
        if args.store is None:
            log(f"building the sample-corpus store in {store} with spaCy ...")
            build_sample_store(store)
        run(args, store, workdir)


def neo4j_store(workdir: Path):
    """An emptied Neo4j: NEO4J_URI's, or the test server started for the run."""
    from kgx.graphdb import open_store

    @contextlib.contextmanager
    def server():
        if os.environ.get("NEO4J_URI"):
            uri = os.environ["NEO4J_URI"]
        else:
            from kgx.testing.neo4j_server import start_server

            log("starting the test Neo4j ...")
            started = start_server(workdir / "neo4j")
            os.environ["NEO4J_USERNAME"] = started.username
            os.environ["NEO4J_PASSWORD"] = started.password
            uri = started.uri
        with open_store(uri) as store:
            store.query("MATCH (n) DETACH DELETE n", write=True)
        try:
            yield uri
        finally:
            if not os.environ.get("NEO4J_URI"):
                started.stop()

    return server()


def run(args, store: str, workdir: Path) -> None:
    from kgx.testing.serve import start_serve

    names, ids = sample_inputs(store)
    # Read-only like the in-process side: the same store.query path on both.
    server = start_serve(store, "--rate-limit", "0", "--read-only", log_dir=workdir)
    try:
        log(f"{args.clients} clients for {args.seconds:g} s against each endpoint of "
            f"{server.url} ...")
        latencies, errors, elapsed = _run_async(
            load(server.url, args.clients, args.seconds, names, ids))
        log(f"{SINGLE} calls to each endpoint from one client ...")
        single = single_client(server.url, names, ids, SINGLE)
        log(f"{SEQUENTIAL} /query calls, each followed by the same store.query in process ...")
        times = interleaved(server.url, store, ids, SEQUENTIAL)
    finally:
        server.stop()
    report(args, store, latencies, errors, elapsed, single, times)


def _run_async(coroutine):
    """On uvloop when it is installed (the serve extra has it): a cheaper client loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def report(args, store, latencies, errors, elapsed, single, times) -> None:
    total = sum(len(v) for v in latencies.values())
    print(f"\n{args.clients} clients × {args.seconds:g} s per endpoint on loopback, "
          f"store {store}\n")
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | p50 ms, 1 client |")
    print("|---|---|---|---|---|---|---|")
    figures = {}
    for kind, values in latencies.items():
        row = {"requests": len(values), "rps": len(values) / elapsed[kind],
               "p50_ms": percentile(values, 0.50), "p95_ms": percentile(values, 0.95),
               "p99_ms": percentile(values, 0.99), "single_client_p50_ms": single[kind]}
        figures[kind] = row
        print(f"| {kind} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
              f"{row['p95_ms']:.1f} | {row['p99_ms']:.1f} | {single[kind]:.2f} |")
    everything = [v for values in latencies.values() for v in values]
    seconds = sum(elapsed.values())
    print(f"| all | {total} | {total / seconds:.0f} | {percentile(everything, .5):.1f} | "
          f"{percentile(everything, .95):.1f} | {percentile(everything, .99):.1f} | |")
    print(f"\nerrors: {errors['count']}" + "".join(f"\n  {e}" for e in errors["examples"]))
    p50 = {name: statistics.median(values) for name, values in times.items()}
    ratio = p50["http"] / p50["local"]
    load_ratio = figures["query"]["p50_ms"] / p50["local"]
    rows = [("`store.query` in process, 1 caller", "local", "—"),
            ("POST /query, 1 raw HTTP/1.1 client", "http", f"{ratio:.2f}×"),
            ("POST /query, 1 `http.client` client", "http_client",
             f"{p50['http_client'] / p50['local']:.2f}×"),
            ("GET /health (no store call), 1 raw client", "floor", "—")]
    print("\n| the same /query Cypher | p50 ms | p95 ms | HTTP is |")
    print("|---|---|---|---|")
    for label, name, versus in rows:
        print(f"| {label} | {p50[name]:.3f} | {percentile(times[name], .95):.3f} | {versus} |")
    print(f"| POST /query under the {args.clients}-client load | "
          f"{figures['query']['p50_ms']:.2f} | {figures['query']['p95_ms']:.2f} | "
          f"{load_ratio:.2f}× |")
    print(json.dumps({
        "store": "neo4j" if store.startswith(("bolt", "neo4j")) else "ladybug",
        "clients": args.clients, "seconds": args.seconds, "client": "raw HTTP/1.1 keep-alive",
        "requests": total, "requests_per_s": round(total / seconds, 1), "errors": errors["count"],
        "endpoints": {k: {m: round(v, 3) for m, v in row.items()} for k, row in figures.items()},
        "query_inprocess_p50_ms": round(p50["local"], 3),
        "query_http_p50_ms": round(p50["http"], 3),
        "query_http_vs_inprocess_p50": round(ratio, 2),
        "query_http_client_p50_ms": round(p50["http_client"], 3),
        "query_http_client_vs_inprocess_p50": round(p50["http_client"] / p50["local"], 2),
        "health_http_p50_ms": round(p50["floor"], 3),
        "query_under_load_vs_inprocess_p50": round(load_ratio, 2),
        "python": platform.python_version(), "cpus": _cpus(),
    }))


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
