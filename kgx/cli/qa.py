"""`kgx eval qa`: build a graph from a QA corpus, then compare retrievers on its questions.

    kgx eval qa --questions 2wikimultihopqa_questions.jsonl \
        --corpus 2wikimultihopqa_corpus.jsonl --out eval-qa --limit 100 --answer

Writes qa.json (every figure, and each question's retrieved passages and answer), qa.md
(retrievers side by side, overall and per question type) and qa.png (Recall@k bars) into --out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kgx.cli.ask import FactFilter, retriever_options
from kgx.cli.console import console_status, open_llm, require_file, stage_progress
from kgx.cli.options import (
    EXTRACTOR_METAVAR,
    OnError,
    extractor_name,
    llm_options,
)
from kgx.errors import ConfigError, InputError
from kgx.models import Document

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings

DEFAULT_RETRIEVERS = "dense,bm25,graph,ppr,hipporag2,hybrid"
RECALL_CUTOFFS = (2, 5, 10)
_NEEDS_LLM = {"text2cypher"}


@llm_options(on_error=OnError.skip_and_record)
def eval_qa(
    questions: Annotated[Path, typer.Option(
        "--questions", help="Questions JSONL, one per line: id, question, answers (gold and "
                            "aliases), gold_passage_ids and type (2WikiMultihopQA shape)")],
    corpus: Annotated[Path, typer.Option(
        "--corpus", help="Passages JSONL, one per line: id, title, text; gold_passage_ids "
                         "name these ids")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder for qa.json, qa.md and qa.png (and the store, without "
                            "--store)")],
    store: Annotated[str | None, typer.Option(
        "--store", "-s", help="Folder of the embedded store, or a neo4j:// / bolt:// URI. "
                              "Default: OUT/store. A store that already holds the corpus "
                              "extracted with --extractor is reused without re-extracting")] = None,
    extractor: Annotated[str, typer.Option(
        parser=extractor_name, metavar=EXTRACTOR_METAVAR,
        help="Extractor that builds the graph: spacy, synthkg, direct, propositions, student, "
             "or a plugin's name (LLM extractors use --llm)")] = "spacy",
    retrievers: Annotated[str, typer.Option(
        help="Retrievers to compare, comma-separated, in table order: dense, bm25, graph, ppr, "
             "hipporag2, hybrid, text2cypher (asks --llm)")] = DEFAULT_RETRIEVERS,
    fact_filter: Annotated[FactFilter, typer.Option(
        "--fact-filter", help="hipporag2 only: 'llm' lets --llm drop matched facts that do "
                              "not help (HippoRAG 2's recognition memory)")] = FactFilter.none,
    top_k: Annotated[int, typer.Option(
        "--top-k", min=1, help="Chunks asked of each retriever; Recall@k is reported at 2, 5 "
                               "and 10 up to it, and at it")] = 10,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="Evaluate only the first N questions (the whole corpus is still "
                               "searched)")] = None,
    answer: Annotated[bool, typer.Option(
        "--answer/--no-answer", help="Also answer each question from the retrieved chunks and "
                                     "report EM, token F1, abstention and answer recall")] = False,
    answerer: Annotated[str | None, typer.Option(
        "--answerer", help="Answerers to compare, comma-separated: graph (no LLM, abstains "
                           "when unsure), llm (--llm, grounded). Default: graph with the "
                           "bundled tiny model (--llm local) or the student, llm otherwise")
    ] = None,
    grounded: Annotated[bool, typer.Option(
        "--grounded/--no-grounded", help="llm answerer: an answer found neither in the "
                                         "passages nor in the graph falls back to the graph "
                                         "answer or abstains")] = True,
    answer_top_k: Annotated[int, typer.Option(
        min=1, help="Passages each answer reads (the best of --top-k)")] = 5,
    answer_retriever: Annotated[str | None, typer.Option(
        help="Retriever(s) whose chunks the answers use, comma-separated, or 'all'. "
             "Default: kgx ask's retriever (hipporag2) if compared, else the first of "
             "--retrievers")] = None,
    answer_limit: Annotated[int | None, typer.Option(
        min=1, help="Answer only the first N evaluated questions")] = None,
    answer_max_tokens: Annotated[int, typer.Option(
        min=1, help="Token cap on each answer")] = 64,
    max_tokens: Annotated[int, typer.Option(help="Chunk token budget when extracting")] = 256,
    *,
    settings: LLMSettings,
) -> None:
    """Compare retrievers on multi-hop questions: passage Recall@k, latency, answer EM and F1.

    An answer the LLM botches (malformed after one repair) scores as wrong and is counted as an
    answer failure rather than stopping the run; --on-error raise stops at the first one.

    The corpus is extracted into --store with --extractor first, unless the store already holds
    it (then nothing is re-extracted; an interrupted extraction resumes). Each retriever is
    warmed up, then asked for --top-k chunks per question; a chunk counts through its passage
    id, each passage once. Every figure is also broken down by question type. Questions whose
    gold passages are not in the corpus are left out, counted and listed in qa.json.
    """
    from kgx.cli.extract import extract_config
    from kgx.evaluation.qa import load_qa_questions
    from kgx.retrieval.ask import ANSWERERS, default_answerer

    names = _names(retrievers, "--retrievers")
    if not answer and (answer_retriever or answer_limit or answerer):
        raise ConfigError("--answerer, --answer-retriever and --answer-limit only apply with "
                          "--answer; add --answer or drop them.")
    answerers = _names(answerer, "--answerer") if answerer else [default_answerer(
        settings.spec)]
    unknown = [name for name in answerers if name not in ANSWERERS]
    if unknown:
        raise ConfigError(f"--answerer {', '.join(unknown)} is not an answerer; choose among "
                          f"{', '.join(ANSWERERS)}.")
    answer_with = _answer_with(answer_retriever, names) if answer else None
    loaded = load_qa_questions(require_file(questions), limit)
    console = Console(stderr=True)
    documents = _read_corpus(require_file(corpus), console)
    config = extract_config(extractor, max_tokens, None, settings)
    if fact_filter is not FactFilter.none and "hipporag2" not in names:
        raise ConfigError("--fact-filter applies to the hipporag2 retriever; add it to "
                          "--retrievers or drop --fact-filter.")
    options = {"hipporag2": retriever_options("hipporag2", fact_filter.value)}
    answering = Answering(answerers, grounded, answer_top_k, answer_max_tokens) if answer \
        else None
    report = _run(store or str(out / "store"), corpus, documents, loaded, config, names,
                  top_k, answer_with, answer_limit, answering, console, options)
    _write(out, report, console)


@dataclass(frozen=True)
class Answering:
    """How `kgx eval qa --answer` answers: answerers, grounding, passages read, token cap."""

    answerers: list[str]
    grounded: bool
    top_k: int
    max_tokens: int


def _run(uri: str, corpus: Path, documents: list[Document], questions, config, names,
         top_k: int, answer_with: list[str] | None, answer_limit: int | None,
         answering: Answering | None, console: Console, options: dict[str, dict]):
    from kgx.evaluation.qa import evaluate_retrievers
    from kgx.extractors import takes_llm
    from kgx.graphdb import open_store

    corpus_ids = {d.external_id for d in documents if d.external_id is not None}
    _warn_missing(questions, corpus_ids, corpus, console)
    needs_llm = ((answering is not None and "llm" in answering.answerers)
                 or takes_llm(config.extractor)
                 or bool(_NEEDS_LLM.intersection(names))
                 or any(options.get(name) for name in names))
    with open_llm(config.llm if needs_llm else None, console) as client, \
             open_store(uri) as graph:
        build_graph(graph, corpus, documents, config, client, console)
        built = warm_retrievers(names, graph, client, console, options)
        answerers = _answerers(answering, built, answer_with, client) if answering else None
        with stage_progress(console) as progress:
            return evaluate_retrievers(
                built, questions, _cutoffs(top_k), None, answer_limit, progress,
                top_k=top_k, answer_with=answer_with, corpus_ids=corpus_ids,
                answerers=answerers, answer_k=answering.top_k if answering else None)


def build_graph(graph, corpus: Path, documents: Sequence[Document], config, llm,
                console: Console) -> None:
    """Extract `corpus` into `graph`, skipping the documents it already holds (resumes)."""
    from kgx.cli.extract import print_summary
    from kgx.pipeline import extract_corpus

    extractor = _extractor(config, llm)
    done = graph.completed_documents(extractor.name)
    ids = {d.id for d in documents}
    reused = len(ids & done)
    if reused == len(ids):
        console.print(f"reusing {graph.uri}: all {reused} corpus documents were already "
                      f"extracted with {extractor.name}; nothing re-extracted", soft_wrap=True)
        return
    if reused:
        console.print(f"reusing {reused} documents already extracted with {extractor.name} "
                      f"in {graph.uri}; extracting the other {len(ids) - reused}", soft_wrap=True)
    with stage_progress(console) as progress:
        report = extract_corpus([corpus], graph, config, resume=True, extractor=extractor,
                                on_progress=lambda done, total: progress("extracting", done,
                                                                         total))
    print_summary(console, report, graph.uri)


def warm_retrievers(names: Sequence[str], graph, llm, console: Console,
                    options: dict[str, dict] | None = None) -> dict:
    """The named retrievers over `graph`, each warmed up (indexes built, models loaded), with
    `options` per name.

    Each gets its own `RetrievalContext`: a shared one caches question vectors, which would
    make every retriever after the first look faster than it is. Indexes kept beside an
    embedded store are still built only once.
    """
    from kgx.retrieval import make_retriever

    built = {}
    for name in names:
        retriever = make_retriever(name, graph, llm=llm, **(options or {}).get(name, {}))
        started = time.perf_counter()
        with console_status(console, f"warming up {name}"):
            retriever.warm_up()
        console.print(f"{name} warmed up in {time.perf_counter() - started:.1f}s")
        built[name] = retriever
    return built


def _extractor(config, llm):
    """The --extractor, sharing the answering LLM when it takes one; an extractor with an LLM of
    its own (the student) gets that one unless --llm names another."""
    from kgx.extractors import default_llm, get_extractor, takes_llm
    from kgx.pipeline import make_extractor

    if not takes_llm(config.extractor):
        return get_extractor(config.extractor)
    if default_llm(config.extractor) and config.llm.spec == "local":
        return make_extractor(config)
    return get_extractor(config.extractor, llm=llm)


def _answerers(answering: Answering, built: dict, answer_with: list[str] | None, llm) -> dict:
    """name → answerer, over the snapshot of the first answering retriever."""
    from kgx.retrieval.ask import AskAnswerer, graph_answerer

    graph = graph_answerer(built[(answer_with or list(built))[0]])
    return {name: AskAnswerer(name, graph, llm, grounded=answering.grounded,
                              max_tokens=answering.max_tokens)
            for name in answering.answerers}


def _write(out: Path, report, console: Console) -> None:
    from kgx.evaluation.qa import qa_markdown, recall_plot
    from kgx.evaluation.reports import write_report

    markdown = qa_markdown(report)
    paths = write_report(out, "qa", report, markdown, recall_plot(report))
    console.print("wrote " + ", ".join(str(p) for p in paths), soft_wrap=True)
    typer.echo(markdown)


# -- inputs -------------------------------------------------------------------------------------

def _names(value: str, option: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{option} is empty; name at least one retriever, e.g. dense,bm25.")
    if len(set(names)) != len(names):
        raise ConfigError(f"{option} names a retriever twice: {value}; list each once.")
    return names


def _answer_with(value: str | None, names: list[str]) -> list[str]:
    if value is None:  # kgx ask's retriever when it is compared, else the first
        from kgx.retrieval import DEFAULT_RETRIEVER

        return [DEFAULT_RETRIEVER] if DEFAULT_RETRIEVER in names else names[:1]
    if value.strip() == "all":
        return list(names)
    chosen = _names(value, "--answer-retriever")
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise ConfigError(f"--answer-retriever {', '.join(unknown)} is not among --retrievers "
                          f"({', '.join(names)}); add it there or pick one of those.")
    return chosen


def _cutoffs(top_k: int) -> list[int]:
    return sorted({k for k in RECALL_CUTOFFS if k < top_k} | {top_k})


def _read_corpus(path: Path, console: Console) -> list[Document]:
    from kgx.ingest import read_documents

    result = read_documents([path])
    if result.skipped:
        first = result.skipped[0]
        console.print(f"[yellow]{len(result.skipped)} corpus lines skipped; first: "
                      f"{first.source}: {first.reason}[/yellow]", soft_wrap=True)
    if not result.documents:
        raise InputError(f"{path} holds no readable passages; it needs one JSON object with "
                         '"id", "title" and "text" per line.')
    unnamed = sum(d.external_id is None for d in result.documents)
    if unnamed:
        console.print(f'[yellow]{unnamed} passages have no "id" and can never count as a gold '
                      "passage[/yellow]", soft_wrap=True)
    return result.documents


def _warn_missing(questions, corpus_ids: set[str], corpus: Path, console: Console) -> None:
    from kgx.evaluation.qa import missing_passages

    missing = missing_passages(questions, corpus_ids)
    if missing:
        examples = ", ".join(q.id for q in missing[:3])
        console.print(f"[yellow]{len(missing)} of {len(questions)} questions name gold passages "
                      f"that are not in {corpus} (e.g. {examples}); they are left out and "
                      "listed in qa.json[/yellow]", soft_wrap=True)
