"""`kgx neo4j fetch|start|stop|status|env`: a local Neo4j 5.26 (Bolt + APOC) on 127.0.0.1.

The same server the tests and CI use (kgx.testing.neo4j_server), from an installed wheel too:
Maven fetches the jars once, Java runs them; no Docker.

    kgx neo4j start && eval "$(kgx neo4j env)" && kgx extract docs/ --store "$NEO4J_URI"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

neo4j_app = typer.Typer(help="A local Neo4j 5.26 with APOC on 127.0.0.1 (needs Java 17+ and "
                             "Maven): fetch, start, stop, status, env.", no_args_is_help=True)

DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="State, config, log and database folder (default: .neo4j in a checkout, "
                  "else ~/.cache/kgx/neo4j/server)")]
TimeoutOption = Annotated[float | None, typer.Option(
    "--timeout", min=1, help="Seconds to wait for start (300) or stop (30)")]


def _run(command: str, folder: Path | None, *extra: str) -> None:
    from kgx.testing.neo4j_server_cli import main

    args = [command, *(["--dir", str(folder)] if folder else []), *extra]
    code = main(args)
    if code:
        raise typer.Exit(code)


@neo4j_app.command("fetch")
def fetch() -> None:
    """Download the pinned Neo4j and APOC jars from Maven Central, unless already there."""
    _run("fetch", None)


@neo4j_app.command("start")
def start(folder: DirOption = None, port: Annotated[int | None, typer.Option(
        "--port", min=1, max=65535, help="Bolt port (default: a free one)")] = None,
        timeout: TimeoutOption = None) -> None:
    """Start the server in the background with a fresh database; wait until it answers."""
    _run("start", folder, *(["--port", str(port)] if port else []),
         *(["--timeout", str(timeout)] if timeout else []))


@neo4j_app.command("stop")
def stop(folder: DirOption = None, timeout: TimeoutOption = None) -> None:
    """Stop the server (succeeds when none is running)."""
    _run("stop", folder, *(["--timeout", str(timeout)] if timeout else []))


@neo4j_app.command("status")
def status(folder: DirOption = None) -> None:
    """Say whether the server runs (exit 0) or not (exit 1)."""
    _run("status", folder)


@neo4j_app.command("env")
def env(folder: DirOption = None) -> None:
    """Print `export NEO4J_URI=… NEO4J_USERNAME=… NEO4J_PASSWORD=…` for `eval` in a shell."""
    _run("env", folder)
