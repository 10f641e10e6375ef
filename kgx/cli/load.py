"""`kgx load`: bulk load an exported graph into a new Neo4j database with neo4j-admin."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from kgx.errors import ConfigError


def load(
    export_dir: Annotated[Path, typer.Argument(
        help="Folder written by `kgx export --format neo4j-import`")],
    bulk: Annotated[bool, typer.Option(
        "--bulk", help="Load with `neo4j-admin database import full` (offline, new database "
                       "only); the one way `kgx load` loads today")] = False,
    neo4j_home: Annotated[Path | None, typer.Option(
        "--neo4j-home", envvar="NEO4J_HOME", help="The Neo4j server's home (data/ under it)")
    ] = None,
    neo4j_conf: Annotated[Path | None, typer.Option(
        "--neo4j-conf", envvar="NEO4J_CONF", help="Folder of its neo4j.conf (default HOME/conf)")
    ] = None,
    database: Annotated[str, typer.Option(help="Database to create")] = "neo4j",
    neo4j_admin: Annotated[str | None, typer.Option(
        "--neo4j-admin", help="The neo4j-admin command (default: HOME/bin/neo4j-admin, then "
                              "PATH, then the Neo4j jars kgx's test server uses)")] = None,
) -> None:
    """Bulk load EXPORT_DIR into a new Neo4j database.

    Stop the server first (neo4j-admin writes the store files directly), run this, then start
    it again: kgx creates its constraints and indexes the first time it connects, so `kgx
    query` and `kgx ask` work at once. The export's run records are loaded with the graph. A
    database that already holds a graph is refused; add to it with the online writer (`kgx
    extract ... --store bolt://...`) instead.
    """
    from kgx.bulk_import import Neo4jHome, bulk_import

    if not bulk:
        raise ConfigError("kgx load needs --bulk (neo4j-admin's offline import into a new "
                          "database); to add to an existing graph, use kgx extract --store "
                          "bolt://...")
    if neo4j_home is None:
        raise ConfigError("give --neo4j-home (or set NEO4J_HOME): the folder of the stopped "
                          "Neo4j server whose database to create")
    target = Neo4jHome(neo4j_home.resolve(), neo4j_conf.resolve() if neo4j_conf else None,
                       tuple(shlex.split(neo4j_admin)) if neo4j_admin else ())
    result = bulk_import(export_dir, target, database)
    typer.echo(f"imported {result.nodes:,} nodes and {result.relationships:,} relationships "
               f"into database {database!r} in {result.seconds:.1f} s; start Neo4j, and kgx "
               "creates its constraints and indexes when it first connects")
