"""The `kgx` command line; each command or group lives in its own module of this package.

    extract, propositions      documents into the graph (extract.py, propositions.py)
    delete, sync               remove documents, or make the store match a folder (lifecycle.py)
    query, stats, export       read the graph (query.py, export.py)
    load                       bulk load an export into a new Neo4j database (load.py)
    ask                        answer a question from the graph (ask.py)
    harvest                    BertNet relation harvesting from an LLM (harvest.py)
    llm generate|score|check   run an LLM backend directly (llm.py)
    eval kg|propositions|teacher|mine-essays|harvest|qa|kb    evaluations (eval.py, qa.py, kb.py)
    kb build|query|export|import                              the knowledge base (kb.py)
    distill data|train|eval    the single-pass student (distill.py)
    serve, mcp, viz            the graph over HTTP, for agents, as a page (serve.py)
    neo4j fetch|start|stop|status|env   a local Neo4j server (neo4j.py)

Shared options live in options.py, console output (progress, LLM usage) in console.py.
"""

from __future__ import annotations

import logging
import sys

import typer

from kgx.errors import KgxError

app = typer.Typer(
    name="kgx",
    help="Extract knowledge graphs from documents and query them with Cypher.\n\n"
         "--store takes a folder (the embedded LadybugDB store, default ./kgx-store or "
         "$KGX_STORE) or a neo4j:// / bolt:// URI (credentials from NEO4J_USERNAME and "
         "NEO4J_PASSWORD).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


from kgx.cli import (  # noqa: E402  (the command modules use `app`'s package)
    ask,
    export,
    extract,
    harvest,
    lifecycle,
    load,
    propositions,
    query,
    serve,
)
from kgx.cli.distill import distill_app  # noqa: E402
from kgx.cli.eval import eval_app  # noqa: E402
from kgx.cli.kb import kb_app  # noqa: E402
from kgx.cli.llm import llm_app  # noqa: E402
from kgx.cli.neo4j import neo4j_app  # noqa: E402

app.command("extract")(extract.extract)
app.command("query")(query.query)
app.command("stats")(query.stats)
app.command("delete")(lifecycle.delete)
app.command("sync")(lifecycle.sync)
app.command("export")(export.export)
app.command("load")(load.load)
app.command("propositions")(propositions.propositions)
app.command("harvest")(harvest.harvest)
app.add_typer(llm_app, name="llm")
app.add_typer(eval_app, name="eval")
app.command("ask")(ask.ask)
app.add_typer(kb_app, name="kb")
app.add_typer(distill_app, name="distill")
app.command("serve")(serve.serve)
app.command("mcp")(serve.mcp)
app.command("viz")(serve.viz)
app.add_typer(neo4j_app, name="neo4j")


def main() -> None:
    """Entry point of the `kgx` script: turns kgx errors into a one-line message and exit 1."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KgxError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(1)
