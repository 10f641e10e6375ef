"""`QueryRunner`: where POST /query's Cypher runs, on worker threads or, when quick, right away.

    runner = QueryRunner(graph, inline=graph.backend == "ladybug")
    body = await runner.run(QueryRequest(cypher="MATCH (e:Entity) RETURN e.name LIMIT 5"))
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import models as m
from .graph import GraphService

QUERY_THREADS = 40  # as many as FastAPI's default thread pool lends to `def` routes
QUICK_S = 0.001  # a Cypher text whose last run took less runs on the event loop
INLINE_BUDGET_S = 0.005  # LadybugDB's time limit there: the longest the loop can stall
REMEMBERED = 1000  # Cypher texts whose last run time is kept


class QueryRunner:
    """Runs POST /query: `GraphService.query` (read-only, row cap, time limit) as JSON bytes.

    Off the event loop on worker threads. The hop there and back costs about 0.1 ms, half an
    embedded query, so with `inline` (the embedded store, whose queries take turns on one
    connection anyway) a Cypher text whose last run took under `quick_s` runs on the event loop
    when the store is free, with LadybugDB's time limit cut to `budget_s`. A run that outgrows
    it is stopped and runs again on a worker thread with the full time limit: the loop waits
    no longer than the budget (as promptly as LadybugDB stops a query), and every query keeps
    its full limit.
    """

    def __init__(self, graph: GraphService, *, inline: bool, quick_s: float = QUICK_S,
                 budget_s: float = INLINE_BUDGET_S) -> None:
        self.graph, self.inline = graph, inline
        self.quick_s, self.budget_s = quick_s, budget_s
        self.threads = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="kgx-query")
        self._last_s: dict[str, float] = {}
        self._lock = threading.Lock()

    async def run(self, request: m.QueryRequest) -> bytes:
        if self.inline and self._last_s.get(request.cypher, self.quick_s) < self.quick_s:
            body = self._now(request)
            if body is not None:
                return body
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.threads, self._timed, request, None)

    def _now(self, request: m.QueryRequest) -> bytes | None:
        """The reply, if the store is free now and the query ends within the inline budget."""
        started = time.perf_counter()
        reply = self.graph.query_now(request.cypher, request.params, budget_s=self.budget_s)
        if reply is None:
            self._remember(request.cypher, self.budget_s)
            return None
        return self._timed(request, reply, started)

    def _timed(self, request: m.QueryRequest, reply: m.QueryResponse | None,
               started: float | None = None) -> bytes:
        started = time.perf_counter() if started is None else started
        if reply is None:
            reply = self.graph.query(request.cypher, request.params)
        body = reply.model_dump_json().encode()
        self._remember(request.cypher, time.perf_counter() - started)
        return body

    def _remember(self, cypher: str, seconds: float) -> None:
        with self._lock:
            if cypher not in self._last_s and len(self._last_s) >= REMEMBERED:
                del self._last_s[next(iter(self._last_s))]  # the oldest
            self._last_s[cypher] = seconds

    def close(self) -> None:
        self.threads.shutdown(wait=True)
