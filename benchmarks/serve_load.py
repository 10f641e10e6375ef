"""Load-test `kgx serve` on loopback: 16 concurrent clients for 30 s, then HTTP overhead.

1. Builds the sample-corpus store with the spaCy extractor (or takes `--store`), starts a real
   `kgx serve` (uvicorn) on a free 127.0.0.1 port with the rate limit off, and runs
   `--clients` concurrent clients for `--seconds` against `/entities?q=`,
   `/entities/{id}/neighbourhood` and `/query`, in turn, with names and ids from the store.
   It reports requests/s, p50/p95/p99 per endpoint and errors (any non-200 or failed call).
2. HTTP overhead: the same parameterised `/query` from one keep-alive client, alternating call
   by call with the same Cypher through `store.query` in process (both read-only), so both see
   the same background load. `query_http_vs_inprocess_p50` is that ratio of medians; the ratio
   under load is reported too, and so is GET /health from the same client (no store call: what
   HTTP costs any endpoint of this server).

Bounded in count and time, loopback only. The last line of stdout is one JSON object.

    python benchmarks/serve_load.py [--clients 16] [--seconds 30] [--store URI]
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

from _common import log

QUERY = ("MATCH (e:Entity)-[r:RELATION]->(o:Entity) WHERE e.id = $id "
         "RETURN o.name AS name, r.predicate AS predicate LIMIT 25")
MAX_REQUESTS = 2_000_000  # a bound on the load phase besides its duration
SEQUENTIAL = 1000


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


async def load(url: str, clients: int, seconds: float, names: list[str], ids: list[str]):
    """Latencies (ms) per endpoint and the error count, from `clients` concurrent loops."""
    import httpx

    latencies: dict[str, list[float]] = {"entities": [], "neighbourhood": [], "query": []}
    errors = {"count": 0, "examples": []}
    deadline = time.perf_counter() + seconds
    sent = 0

    async def one(client: httpx.AsyncClient, kind: str, rng: random.Random) -> None:
        started = time.perf_counter()
        try:
            if kind == "entities":
                reply = await client.get("/entities", params={"q": rng.choice(names)})
            elif kind == "neighbourhood":
                reply = await client.get(f"/entities/{rng.choice(ids)}/neighbourhood",
                                         params={"hops": 1})
            else:
                reply = await client.post("/query", json={"cypher": QUERY,
                                                          "params": {"id": rng.choice(ids)}})
            ok = reply.status_code == 200
            problem = f"{kind}: HTTP {reply.status_code} {reply.text[:200]}"
        except httpx.HTTPError as e:
            ok, problem = False, f"{kind}: {type(e).__name__}: {e}"
        if ok:
            latencies[kind].append((time.perf_counter() - started) * 1000)
        else:
            errors["count"] += 1
            if len(errors["examples"]) < 5:
                errors["examples"].append(problem)

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        nonlocal sent
        rng = random.Random(index)
        kinds = ("entities", "neighbourhood", "query")
        turn = index
        while time.perf_counter() < deadline and sent < MAX_REQUESTS:
            sent += 1
            await one(client, kinds[turn % 3], rng)
            turn += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(i, client) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def interleaved(url: str, store_uri: str, ids: list[str], count: int):
    """`count` rounds of: GET /health (no store call: the HTTP floor of any endpoint), the same
    /query as a POST, both from one keep-alive http.client connection (the lightest client, so
    the figures are mostly the server's), then the same `store.query` in process. Alternating
    them puts all three under the same background load."""
    import http.client

    from kgx.graphdb import open_store

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    rng, http_times, local_times, floor_times = random.Random(1), [], [], []
    with open_store(store_uri, read_only=True) as store:  # the server is --read-only too
        store.query(QUERY, {"id": ids[0]})
        for _ in range(count):
            params = {"id": rng.choice(ids)}
            body = json.dumps({"cypher": QUERY, "params": params})
            floor_times.append(_timed(connection, "GET", "/health"))
            http_times.append(_timed(connection, "POST", "/query", body=body,
                                     headers={"Content-Type": "application/json"}))
            started = time.perf_counter()
            # What the server's /query calls: its time limit and row cap (+1 to see a cut).
            store.query(QUERY, params, timeout_s=10.0, max_rows=1001)
            local_times.append((time.perf_counter() - started) * 1000)
    connection.close()
    return http_times, local_times, floor_times


def _timed(connection, method: str, path: str, **request) -> float:
    """Milliseconds for one request on the keep-alive connection, the reply read; non-200 fails."""
    started = time.perf_counter()
    connection.request(method, path, **request)
    reply = connection.getresponse()
    reply.read()
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status != 200:
        raise RuntimeError(f"{method} {path} answered {reply.status}")
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
        log(f"{args.clients} clients for {args.seconds:g} s against {server.url} ...")
        latencies, errors, elapsed = asyncio.run(
            load(server.url, args.clients, args.seconds, names, ids))
        log(f"{SEQUENTIAL} /query calls, each followed by the same store.query in process ...")
        http_times, local_times, floor_times = interleaved(server.url, store, ids, SEQUENTIAL)
    finally:
        server.stop()
    report(args, store, latencies, errors, elapsed, http_times, local_times, floor_times)


def report(args, store, latencies, errors, elapsed, http_times, local_times,
           floor_times) -> None:
    total = sum(len(v) for v in latencies.values())
    print(f"\n{args.clients} clients × {args.seconds:g} s on loopback, store {store}\n")
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    figures = {}
    for kind, values in latencies.items():
        row = {"requests": len(values), "rps": len(values) / elapsed,
               "p50_ms": percentile(values, 0.50), "p95_ms": percentile(values, 0.95),
               "p99_ms": percentile(values, 0.99)}
        figures[kind] = row
        print(f"| {kind} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
              f"{row['p95_ms']:.1f} | {row['p99_ms']:.1f} |")
    everything = [v for values in latencies.values() for v in values]
    print(f"| all | {total} | {total / elapsed:.0f} | {percentile(everything, .5):.1f} | "
          f"{percentile(everything, .95):.1f} | {percentile(everything, .99):.1f} |")
    print(f"\nerrors: {errors['count']}" + "".join(f"\n  {e}" for e in errors["examples"]))
    http_p50, local_p50 = statistics.median(http_times), statistics.median(local_times)
    ratio = http_p50 / local_p50
    print("\n| the same /query Cypher | p50 ms | p95 ms | HTTP is |")
    print("|---|---|---|---|")
    print(f"| `store.query` in process, 1 caller | {local_p50:.2f} | "
          f"{percentile(local_times, .95):.2f} | — |")
    print(f"| POST /query, 1 client | {http_p50:.2f} | {percentile(http_times, .95):.2f} | "
          f"{ratio:.2f}× |")
    floor_p50 = statistics.median(floor_times)
    print(f"| GET /health (no store call), 1 client | {floor_p50:.2f} | "
          f"{percentile(floor_times, .95):.2f} | — |")
    load_ratio = figures["query"]["p50_ms"] / local_p50
    print(f"| POST /query under the {args.clients}-client load | "
          f"{figures['query']['p50_ms']:.2f} | {figures['query']['p95_ms']:.2f} | "
          f"{load_ratio:.2f}× |")
    print(json.dumps({
        "store": "neo4j" if store.startswith(("bolt", "neo4j")) else "ladybug",
        "clients": args.clients, "seconds": args.seconds, "requests": total,
        "requests_per_s": round(total / elapsed, 1), "errors": errors["count"],
        "endpoints": {k: {m: round(v, 2) for m, v in row.items()} for k, row in figures.items()},
        "query_inprocess_p50_ms": round(local_p50, 3),
        "query_http_p50_ms": round(http_p50, 3),
        "query_http_vs_inprocess_p50": round(ratio, 2),
        "health_http_p50_ms": round(floor_p50, 3),
        "query_under_load_vs_inprocess_p50": round(load_ratio, 2),
        "python": platform.python_version(), "cpus": _cpus(),
    }))


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
