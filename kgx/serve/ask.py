"""Questions over the served store: `kgx ask`'s retrieval and answer, retrievers kept warm."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from . import models as m


class AskService:
    """Answers questions with a retriever kept loaded per name and one LLM loaded on first use.

        service = AskService(store, llm_spec="local")
        service.ask(m.AskRequest(question="Who founded X?", retriever="graph", answer=False))
    """

    def __init__(self, store, *, llm_spec: str = "local", answer_tokens: int = 64) -> None:
        self.store = store
        self.llm_spec = llm_spec
        self.answer_tokens = answer_tokens
        self._retrievers: dict[str, object] = {}
        self._graph_answerers: dict[str, object] = {}
        self._llm = None
        self._resources = ExitStack()
        self._lock = threading.Lock()  # one question at a time: retrievers and LLMs hold state

    def ask(self, request: m.AskRequest) -> m.AskResponse:
        from kgx.retrieval.ask import ask_report, default_answerer

        answerer = request.answerer or default_answerer(self.llm_spec)
        needs_llm = (request.answer and answerer == "llm") or request.retriever == "text2cypher"
        with self._lock:
            model = self._model() if needs_llm else None
            retriever = self._retriever(request.retriever, model)
            graph = self._graph_answerer(request.retriever, retriever) if request.answer \
                else None
            report = ask_report(retriever, request.question, model, top_k=request.top_k,
                                answer_tokens=self.answer_tokens if request.answer else None,
                                answerer=answerer, grounded=request.grounded, graph=graph)
        cited = set(report["citations"])
        passages = [m.AskPassage(**{k: v for k, v in chunk.items() if k != "evidence"
                                    and k != "paths"}, evidence=list(chunk["evidence"]),
                                 paths=list(chunk["paths"]), cited=n in cited)
                    for n, chunk in enumerate(report.pop("chunks"), 1)]
        return m.AskResponse(**report, passages=passages)

    def _model(self):
        if self._llm is None:
            from kgx.llm.spec import LLMSettings, load_llm

            # A botched reply becomes the response's answer_error instead of a failed request.
            settings = LLMSettings(spec=self.llm_spec, on_error="skip-and-record")
            self._llm = self._resources.enter_context(load_llm(settings.spec, settings))
        return self._llm

    def _retriever(self, name: str, model):
        from kgx.retrieval import make_retriever

        key = f"{name}+llm" if name in ("text2cypher", "hybrid") and model is not None else name
        if key not in self._retrievers:
            retriever = make_retriever(name, self.store, llm=model)
            retriever.warm_up()
            self._retrievers[key] = retriever
        return self._retrievers[key]

    def _graph_answerer(self, name: str, retriever):
        from kgx.retrieval.ask import graph_answerer

        if name not in self._graph_answerers:
            self._graph_answerers[name] = graph_answerer(retriever)
        return self._graph_answerers[name]

    def forget_cached(self) -> None:
        """Drop the loaded retrievers and answerers (after the store changed); the LLM stays."""
        with self._lock:
            self._retrievers.clear()
            self._graph_answerers.clear()

    def close(self) -> None:
        self._resources.close()
