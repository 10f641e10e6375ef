"""`kgx ask`: answer one question from the graph with a retriever and an LLM, citing passages."""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from kgx.cli.console import open_llm
from kgx.cli.options import (
    StoreOption,
    llm_options,
)
from kgx.errors import ConfigError
from kgx.graphdb import open_store
from kgx.retrieval import DEFAULT_RETRIEVER

if TYPE_CHECKING:
    from kgx.llm.spec import LLMSettings

EXCERPT_CHARS = 300


class FactFilter(str, Enum):
    """How hipporag2 treats the facts it matched to the question."""

    none = "none"
    llm = "llm"


class AnswererName(str, Enum):
    """Who answers: the graph (no LLM) or the LLM, grounded in the passages and the graph."""

    graph = "graph"
    llm = "llm"


class RetrieverName(str, Enum):
    """The retrievers `kgx ask` can use."""

    dense = "dense"
    bm25 = "bm25"
    graph = "graph"
    ppr = "ppr"
    hipporag2 = "hipporag2"
    hybrid = "hybrid"
    text2cypher = "text2cypher"


DEFAULT_RETRIEVER_NAME = RetrieverName(DEFAULT_RETRIEVER)


@llm_options()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes")],
    retriever: Annotated[RetrieverName, typer.Option(
        "--retriever", "-r",
        help="dense: embeddings of chunks; bm25: keywords; graph: entities of the question "
             "and their facts; ppr: personalized PageRank from those entities; hipporag2: "
             "PageRank over entities and passages from the facts matching the question; "
             "hybrid: several fused; text2cypher: the LLM writes a read-only Cypher query")
    ] = DEFAULT_RETRIEVER_NAME,
    fact_filter: Annotated[FactFilter, typer.Option(
        "--fact-filter", help="hipporag2 only: 'llm' lets --llm drop matched facts that do "
                              "not help (HippoRAG 2's recognition memory)")] = FactFilter.none,
    store: StoreOption = None,
    top_k: Annotated[int, typer.Option(
        "--top-k", "-k", min=1, help="Chunks to retrieve and answer from")] = 5,
    answerer: Annotated[AnswererName | None, typer.Option(
        "--answerer", "-a",
        help="graph: the best-supported entity or value of the passages and the graph, no LLM, "
             "abstains when unsure; llm: --llm reads the passages. Default: graph with the "
             "bundled tiny model (--llm local) or the student, llm with any other --llm")
    ] = None,
    grounded: Annotated[bool, typer.Option(
        "--grounded/--no-grounded",
        help="llm answerer: an answer that is neither a span of the passages nor an entity of "
             "the graph falls back to the graph answer (or abstains); --no-grounded keeps it, "
             "flagged")] = True,
    answer_tokens: Annotated[int, typer.Option(
        "--answer-tokens", min=8, help="Token budget of the answer's JSON reply")] = 64,
    no_answer: Annotated[bool, typer.Option(
        "--no-answer", help="Only retrieve and print the chunks; no answer is generated "
                            "(text2cypher still calls the LLM for its query)")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (answer, citations, chunks, Cypher) instead")
    ] = False,
    *,
    settings: LLMSettings,
) -> None:
    """Answer QUESTION from the graph: retrieve chunks, then answer from them.

    The graph answerer (the default with the bundled model) needs no LLM: it picks the entity
    or value of the retrieved passages that best fits the question's type and wording, with
    the facts and the entity path that support it, and abstains ("not found in the graph")
    when its confidence is low. The llm answerer asks --llm and checks that the answer is in
    the passages or the graph (--grounded).

    Prints the answer with its answerer, confidence and evidence path first, then each
    retrieved passage (document title and external id, chunk id,
    an excerpt) with the facts and entity paths that led to it; cited passages are marked.
    With --retriever text2cypher it also prints the Cypher query the LLM wrote, which ran
    read-only. The store is opened read-only.

    Example: kgx ask "Who designed the Analytical Engine?" -k 5
    """
    from kgx.retrieval.ask import default_answerer

    options = retriever_options(retriever.value, fact_filter.value)
    chosen = answerer.value if answerer else default_answerer(settings.spec)
    needs_llm = ((not no_answer and chosen == "llm") or retriever is RetrieverName.text2cypher
                 or "fact_filter" in options)
    with open_store(store, read_only=True) as graph, \
            open_llm(settings if needs_llm else None, Console(stderr=True)) as model:
        report = _answer(question, retriever.value, graph, model, top_k,
                         None if no_answer else answer_tokens, options, chosen, grounded)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_report(report)


def retriever_options(name: str, fact_filter: str) -> dict[str, str]:
    """The options --fact-filter gives the retriever `name` (only hipporag2 takes one)."""
    if fact_filter == "none":
        return {}
    if name != "hipporag2":
        raise ConfigError(f"--fact-filter {fact_filter} applies to the hipporag2 retriever, "
                          f"not {name}; drop it or pick --retriever hipporag2.")
    return {"fact_filter": fact_filter}


def _answer(question: str, name: str, graph, model, top_k: int,
            answer_tokens: int | None, options: dict[str, str], answerer: str,
            grounded: bool) -> dict[str, Any]:
    """Retrieve, answer if asked, and gather everything to print as one dict."""
    from kgx.retrieval import make_retriever
    from kgx.retrieval.ask import ask_report

    retriever = make_retriever(name, graph, llm=model, **options)
    retriever.warm_up()
    return ask_report(retriever, question, model, top_k=top_k, answer_tokens=answer_tokens,
                      answerer=answerer, grounded=grounded)


def _print_report(report: dict[str, Any]) -> None:
    if report["answerer"] is not None:
        _print_answer(report)
    if report["retrieval_error"]:
        typer.echo(f"Retrieval failed: {report['retrieval_error']}")
    chunks = report["chunks"]
    typer.echo(f"\n{len(chunks)} passages from the {report['retriever']} retriever"
               + (":" if chunks else "."))
    for number, chunk in enumerate(chunks, 1):
        _print_chunk(number, chunk, number in report["citations"])
    if report["cypher"]:
        typer.echo(f"\nCypher (ran read-only):\n  {report['cypher']}")


def _print_answer(report: dict[str, Any]) -> None:
    from kgx.retrieval.graph_answer import ABSTAINED

    cites = "".join(f" [{n}]" for n in report["citations"])
    confidence = report["confidence"]
    who = f"{report['answerer']} answerer" + (
        f", confidence {confidence:.2f}" if confidence is not None else "")
    typer.secho(f"Answer: {report['answer'] or ABSTAINED}{cites}  ({who})", bold=True)
    if report["answer_path"]:
        typer.echo(f"  path: {report['answer_path']}")
    for fact in report["answer_facts"]:
        typer.echo(f"  fact: {fact}")
    if report["grounding"]:
        typer.echo(f"  grounding: {report['grounding']}")
    if report["answer_reason"]:
        typer.echo(f"  how: {report['answer_reason']}")
    if report["answer_error"]:
        typer.echo(f"  (the LLM's reply was unusable: {report['answer_error']})")


def _print_chunk(number: int, chunk: dict[str, Any], cited: bool) -> None:
    source = chunk["title"] or chunk["doc_id"]
    if chunk["external_id"]:
        source += f" ({chunk['external_id']})"
    if chunk.get("page"):
        source += f", p. {chunk['page']}"
    mark = " cited" if cited else ""
    typer.echo(f"\n[{number}]{mark} {source} · chunk {chunk['chunk_id']} · "
               f"score {chunk['score']:.3g}")
    text = " ".join(chunk["text"].split())
    typer.echo("    " + (text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"))
    for fact in chunk["evidence"]:
        typer.echo(f"    fact: {fact}")
    for path in chunk["paths"]:
        typer.echo(f"    path: {path}")
