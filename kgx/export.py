"""Export a stored graph as JSON lines, GraphML, or CSVs for `neo4j-admin database import`.

Nodes and edges are read page by page in id order with the same Cypher on every store, so an
export of the embedded store and of Neo4j holding the same graph are identical.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kgx.errors import ConfigError
from kgx.graphdb import cypher
from kgx.graphdb.schema import GRAPH_LABELS, NODE_BY_LABEL, RELATIONSHIPS, RelTable

PAGE = 5_000
FORMATS = ("jsonl", "graphml", "neo4j-import")
_ARRAY_DELIMITER = ";"
IMPORT_MANIFEST = "kgx-import.json"
"""Written beside the CSVs: which files hold values that span lines."""
_IMPORT_TYPES = {"STRING": "string", "INT64": "long", "DOUBLE": "double", "STRING[]": "string[]",
                 "INT64[]": "long[]"}


def iter_nodes(store, label: str) -> Iterator[dict[str, Any]]:
    """Every node of `label` as a dict of its properties, in id order."""
    names = list(NODE_BY_LABEL[label].properties)
    for row in _pages(store, cypher.export_nodes(label, names)):
        yield dict(zip(names, row, strict=True))


def iter_edges(store, table: RelTable) -> Iterator[dict[str, Any]]:
    """Every edge of a type as {src, dst, **properties}, in a stable order."""
    names = list(table.properties)
    for row in _pages(store, cypher.export_edges(table)):
        yield dict(zip(["src", "dst", *names], row, strict=True))


def _pages(store, query: str) -> Iterator[list[Any]]:
    skip = 0
    while True:
        rows = store.query(query, {"skip": skip, "limit": PAGE}).rows
        yield from rows
        if len(rows) < PAGE:
            return
        skip += PAGE


def export_graph(store, fmt: str, out: Path) -> list[Path]:
    """Write the graph in `fmt` to `out` (a file, or a folder for neo4j-import); return paths."""
    if fmt == "jsonl":
        return [_export_jsonl(store, out)]
    if fmt == "graphml":
        return [_export_graphml(store, out)]
    if fmt == "neo4j-import":
        return _export_neo4j_import(store, out)
    raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _export_jsonl(store, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for label in GRAPH_LABELS:
            for node in iter_nodes(store, label):
                f.write(json.dumps({"kind": "node", "label": label, **_clean(node)}) + "\n")
        for table in RELATIONSHIPS:
            for edge in iter_edges(store, table):
                f.write(json.dumps({"kind": "edge", "type": table.type, **_clean(edge)}) + "\n")
    return out


def _export_graphml(store, out: Path) -> Path:
    import networkx as nx

    graph = nx.MultiDiGraph()
    for label in GRAPH_LABELS:
        for node in iter_nodes(store, label):
            graph.add_node(node["id"], label=label, **_graphml_attrs(node))
    for table in RELATIONSHIPS:
        for edge in iter_edges(store, table):
            src, dst = edge.pop("src"), edge.pop("dst")
            graph.add_edge(src, dst, key=edge.get("id"), type=table.type, **_graphml_attrs(edge))
    out.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(graph, out)
    return out


def _graphml_attrs(props: dict[str, Any]) -> dict[str, Any]:
    """GraphML has no lists or nulls: lists are joined with ';', nulls dropped."""
    return {k: _ARRAY_DELIMITER.join(map(str, v)) if isinstance(v, list) else v
            for k, v in props.items() if v is not None and k != "id"}


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None}


def _export_neo4j_import(store, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written, multiline = [], []
    for label in (*GRAPH_LABELS, "Run"):  # runs: the provenance the facts' run_id points to
        props = NODE_BY_LABEL[label].properties
        header = [f"{n}:ID" if n == "id" else f"{n}:{_IMPORT_TYPES[k]}" for n, k in props.items()]
        rows = ([_csv_value(node[n]) for n in props] for node in iter_nodes(store, label))
        path = out / f"nodes_{label}.csv"
        written.append(path)
        if _write_csv(path, [*header, ":LABEL"], ([*row, label] for row in rows)):
            multiline.append(path.name)
    for table in RELATIONSHIPS:
        header = [":START_ID", ":END_ID",
                  *(f"{n}:{_IMPORT_TYPES[k]}" for n, k in table.properties.items()), ":TYPE"]
        rows = ([e["src"], e["dst"], *(_csv_value(e[n]) for n in table.properties), table.type]
                for e in iter_edges(store, table))
        path = out / f"relationships_{table.type}.csv"
        written.append(path)
        if _write_csv(path, header, rows):
            multiline.append(path.name)
    manifest = out / IMPORT_MANIFEST
    manifest.write_text(json.dumps({"multiline_files": multiline}, indent=1) + "\n")
    written += [manifest, _write_import_command(out, written, multiline)]
    return written


def multiline_options(files: list[str]) -> list[str]:
    """neo4j-admin's options to parse only `files` (names or paths) as multi-line CSV.

    The multi-line parser reads a file on one thread (it cannot cut it at line ends), so the
    other files keep the fast parallel one. A name with a comma cannot be listed: then every
    file is parsed as multi-line, which is slower but reads the same values.
    """
    if not files:
        return []
    if any("," in str(name) for name in files):
        return ["--multiline-fields=true"]
    return ["--multiline-fields-format=v2", f"--multiline-fields={','.join(map(str, files))}"]


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return _ARRAY_DELIMITER.join(map(str, value))
    return value


def _write_csv(path: Path, header: list[str], rows) -> bool:
    """Strings quoted, nulls as empty unquoted fields: neo4j-admin reads `""` as an empty
    string and an empty field as no property, so both survive the import. Whether a value
    spans lines: only such files need neo4j-admin's slow multi-line parser."""
    multiline = False
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerow(header)
        for row in rows:
            line = ",".join(map(_csv_field, row))
            multiline = multiline or "\n" in line or "\r" in line
            f.write(line + "\r\n")
    return multiline


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return '"' + str(value).replace('"', '""') + '"'


def _write_import_command(out: Path, files: list[Path], multiline: list[str]) -> Path:
    """A script running `neo4j-admin database import full` on the CSVs just written."""
    args = [f"--nodes={p.name}" for p in files if p.name.startswith("nodes_")]
    args += [f"--relationships={p.name}" for p in files if p.name.startswith("relationships_")]
    args += multiline_options(multiline)
    script = out / "import.sh"
    script.write_text(
        "#!/usr/bin/env sh\n# Load these CSVs into a new database (stop the server first);\n"
        "# `kgx load FOLDER --bulk --neo4j-home HOME` does it and checks the database is new.\n"
        'cd "$(dirname "$0")"\n'
        f'neo4j-admin database import full "${{1:-neo4j}}" --array-delimiter="{_ARRAY_DELIMITER}" '
        f'{" ".join(args)}\n'
    )
    script.chmod(0o755)
    return script
