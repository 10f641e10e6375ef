"""`kgx export`: write the stored graph as JSON lines, GraphML or neo4j-admin import CSVs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from kgx.cli.options import StoreOption
from kgx.graphdb import open_store


class ExportFormat(str, Enum):
    """Formats `kgx export` writes."""

    jsonl = "jsonl"
    graphml = "graphml"
    neo4j_import = "neo4j-import"


def export(
    out: Annotated[Path, typer.Argument(
        help="Output file (jsonl, graphml) or folder (neo4j-import)")],
    output: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    store: StoreOption = None,
) -> None:
    """Export the graph. neo4j-import writes CSVs (the graph and its run records), the list of
    files with multi-line values (kgx-import.json) and an import.sh for neo4j-admin."""
    from kgx.export import export_graph

    with open_store(store, read_only=True) as graph:
        paths = export_graph(graph, output.value, out)
    for path in paths:
        typer.echo(str(path))
