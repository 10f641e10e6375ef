"""The `kgx` command line: extract, query, stats, export, llm. Each group lives in its module."""

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


def _register() -> None:
    if app.registered_commands:
        return
    from kgx.cli import ask, export, extract, harvest, lifecycle, propositions, query, serve
    from kgx.cli.distill import distill_app
    from kgx.cli.eval import eval_app
    from kgx.cli.kb import kb_app
    from kgx.cli.llm import llm_app

    app.command("extract")(extract.extract)
    app.command("query")(query.query)
    app.command("stats")(query.stats)
    app.command("delete")(lifecycle.delete)
    app.command("sync")(lifecycle.sync)
    app.command("export")(export.export)
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


def main() -> None:
    """Entry point of the `kgx` script: turns kgx errors into a one-line message and exit 1."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except KgxError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(1)
