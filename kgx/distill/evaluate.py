"""`kgx distill eval`: the student against its teacher on the held-out split, side by side with
the spaCy baseline and the untrained base model.

Every system sees each test passage as one chunk and goes through its real extractor
(`StudentExtractor` for the student and the base model, `SpacyExtractor` for spaCy), so the
figures are what `kgx extract` would store. Agreement with the teacher uses the same matching
code as `kgx eval teacher` (exact, normalized, fuzzy, embedding; micro-averaged). LLM systems
run with no cache and no repair turn, so "LLM calls per document" counts what one pass costs
and "JSON-valid" counts replies that parsed and validated the first time.

    report = evaluate_systems(read_dataset(Path("data/test.jsonl")),
                              {"student": student_system("student"), "spacy": spacy_system()})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from kgx.evaluation.teacher import AgreementDocument, AgreementReport, agreement
from kgx.models import Chunk

from .data import Example

Progress = Callable[[int, int], None]


class SystemResult(BaseModel):
    """One system's agreement with the teacher and what it cost."""

    name: str
    documents: int
    agreement: AgreementReport
    json_valid: int | None = None
    json_valid_rate: float | None = None
    llm_calls: int | None = None
    llm_calls_per_document: float | None = None
    completion_tokens: int | None = None
    seconds: float
    chunks_per_s: float
    failures: list[str] = []
    """The first few failed chunks with their errors."""


class DistillReport(BaseModel):
    """Every system on the same examples."""

    examples: int
    systems: dict[str, SystemResult]


class System:
    """An extractor to evaluate, with the LLM behind it (None for spaCy)."""

    def __init__(self, name: str, build: Callable[[], Any], llm: Any = None) -> None:
        self.name, self.build, self.llm = name, build, llm


def student_system(name: str, spec: Any, *, batch_size: int = 8, max_tokens: int = 768,
                   propositions: bool = False) -> System:
    """The student extractor on the LLM `spec` ("student", "student:PATH", "hf:local", ... or a
    backend object), uncached and without repair turns."""
    from kgx.extractors.student import StudentExtractor
    from kgx.llm.spec import LLMSettings, load_llm

    settings = LLMSettings(spec=spec if isinstance(spec, str) else "local", cache=False,
                           repair=False, on_error="skip-and-record")
    llm = load_llm(spec, settings)
    if hasattr(llm.backend, "batch_size"):
        llm.backend.batch_size = batch_size
    return System(name, lambda: StudentExtractor(llm, propositions=propositions,
                                                 max_tokens=max_tokens), llm)


def base_system(*, batch_size: int = 8, max_tokens: int = 768) -> System:
    """The untrained SmolLM2 on the student's prompt, decoded like the student (repeat guard on;
    its JSON separators stay the defaults, as it never learned the compact ones)."""
    from kgx.llm.spec import bundled_gguf
    from kgx.llm.transformers_llm import TransformersLLM

    backend = TransformersLLM(bundled_gguf(), name="base", repeat_guard=True)
    return student_system("base", backend, batch_size=batch_size, max_tokens=max_tokens)


def spacy_system() -> System:
    """The spaCy dependency-parse baseline."""
    from kgx.extractors import get_extractor

    return System("spacy", lambda: get_extractor("spacy"))


def evaluate_systems(examples: Sequence[Example], systems: Sequence[System], *,
                     batch_size: int = 8, progress: Callable[[str], Progress] | None = None,
                     ) -> DistillReport:
    """Run every system over `examples` and score each against the teacher."""
    chunks = [_chunk(example) for example in examples]
    teacher = [AgreementDocument(title=e.doc, text=e.text, entities=e.entities,
                                 triples=[tuple(t) for t in e.triples]) for e in examples]
    results = {}
    for system in systems:
        on_progress = progress(system.name) if progress else None
        results[system.name] = _run(system, chunks, teacher, batch_size, on_progress)
    return DistillReport(examples=len(examples), systems=results)


def _run(system: System, chunks: list[Chunk], teacher: list[AgreementDocument],
         batch_size: int, on_progress: Progress | None) -> SystemResult:
    extractor = system.build()
    extractor.warm_up()
    started = time.perf_counter()
    predicted = []
    for start in range(0, len(chunks), batch_size):
        batch = chunks[start:start + batch_size]
        for chunk, found in zip(batch, extractor.extract(batch, run_id="distill-eval"),
                                strict=True):
            by_id = {e.id: e.name for e in found.entities}
            triples = [(by_id.get(r.subject.id, r.subject.name), r.predicate,
                        by_id.get(r.object.id, r.object.name)) for r in found.relations]
            predicted.append(AgreementDocument(title=chunk.doc_id, text=chunk.text,
                                               entities=list(by_id.values()), triples=triples))
        if on_progress:
            on_progress(min(start + batch_size, len(chunks)), len(chunks))
    seconds = time.perf_counter() - started
    report = agreement(list(zip(teacher, predicted, strict=True)))
    n = len(chunks)
    result: dict[str, Any] = {"name": system.name, "documents": n, "agreement": report,
                              "seconds": round(seconds, 2),
                              "chunks_per_s": round(n / seconds, 3) if seconds else 0.0}
    if system.llm is not None:
        failures = getattr(extractor, "failures", [])
        invalid = len(failures) + len(getattr(extractor, "malformed", []))
        meter = system.llm.meter
        result.update(json_valid=n - invalid, json_valid_rate=(n - invalid) / n,
                      llm_calls=meter.calls, llm_calls_per_document=meter.calls / n,
                      completion_tokens=meter.completion_tokens,
                      failures=[f"{f.chunk_id}: {f.error[:200]}" for f in failures[:5]])
    return SystemResult(**result)


def report_markdown(report: DistillReport) -> str:
    """The side-by-side table: one row per system."""
    from kgx.evaluation.reports import markdown_table

    headers = ["system", "entity F1 (exact)", "entity F1 (fuzzy)", "triple F1 exact",
               "triple F1 normalized", "triple F1 fuzzy", "triple F1 embedding", "format-valid",
               "LLM calls/doc", "chunks/s"]
    rows = []
    for name, result in report.systems.items():
        modes = result.agreement.by_mode
        rows.append([
            name, f"{modes['exact'].entities.f1:.3f}", f"{modes['fuzzy'].entities.f1:.3f}",
            *(f"{modes[m].triples.f1:.3f}" for m in ("exact", "normalized", "fuzzy",
                                                     "embedding")),
            "–" if result.json_valid_rate is None else f"{result.json_valid_rate:.1%}",
            "–" if result.llm_calls_per_document is None
            else f"{result.llm_calls_per_document:.2f}",
            f"{result.chunks_per_s:.2f}"])
    return (f"Agreement with the teacher on {report.examples} held-out passages "
            f"(micro-averaged F1):\n\n" + markdown_table(headers, rows))


def _chunk(example: Example) -> Chunk:
    text = example.text
    return Chunk(doc_id=example.id, index=0, text=text, start=0, end=len(text),
                 n_tokens=len(text.split()))
