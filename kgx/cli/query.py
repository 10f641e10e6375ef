"""`kgx query` and `kgx stats`: Cypher against the store, read-only unless --write."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kgx.cli.options import StoreOption
from kgx.errors import ConfigError
from kgx.graphdb import QueryResult, open_store


class OutputFormat(str, Enum):
    """How `kgx query` prints rows."""

    table = "table"
    json = "json"
    csv = "csv"


def query(
    cypher: Annotated[str, typer.Argument(help="The Cypher query; use $name for parameters")],
    store: StoreOption = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="name=value, bound as $name; value parsed as JSON if it can be")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    write: Annotated[bool, typer.Option("--write", help="Allow the query to change the graph")
                     ] = False,
) -> None:
    """Run a Cypher query. Parameters are bound, never pasted into the query text."""
    params = parse_params(param or [])
    with open_store(store, read_only=not write) as graph:
        result = graph.query(cypher, params, write=write)
    print_result(result, output)


def stats(store: StoreOption = None) -> None:
    """Count nodes per label and edges per relationship type."""
    with open_store(store, read_only=True) as graph:
        counts = graph.counts()
    result = QueryResult(["kind", "count"], [[k, v] for k, v in counts.items()])
    print_result(result, OutputFormat.table)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`name=value` pairs as a dict; JSON values (numbers, lists, true) are decoded."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"bad parameter {pair!r}: write it as name=value, e.g. -p name=Ada")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def print_result(result: QueryResult, output: OutputFormat) -> None:
    """Print rows as a rich table, JSON lines or CSV on stdout."""
    if output is OutputFormat.json:
        for record in result.records():
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    elif output is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
    else:
        table = Table(*result.columns, caption=f"{len(result.rows)} rows")
        for row in result.rows:
            table.add_row(*(_cell(v) for v in row))
        Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)
