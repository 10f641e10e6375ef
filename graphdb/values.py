"""Convert driver values (nodes, relationships, paths, temporal types) into plain Python.

Both stores return the same shapes: a node is a dict of its non-null properties plus `_labels`,
a relationship a dict of its non-null properties plus `_type`, so the same query compares equal.
"""

from __future__ import annotations

import sys
from typing import Any

_LADYBUG_INTERNAL = {"_ID", "_SRC", "_DST", "_LABEL", "_NODES", "_RELS"}


def plain_value(value: Any) -> Any:
    """A JSON-friendly Python value for one query result cell."""
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return _plain_mapping(value)
    neo4j_shape = _neo4j_graph_value(value)
    if neo4j_shape is not None:
        return neo4j_shape
    if hasattr(value, "iso_format"):  # neo4j.time types
        return value.iso_format()
    return value


def _plain_mapping(value: dict[str, Any]) -> dict[str, Any]:
    if "_NODES" in value and "_RELS" in value:  # a LadybugDB recursive relationship (path)
        return {"nodes": plain_value(value["_NODES"]),
                "relationships": plain_value(value["_RELS"])}
    out = {k: plain_value(v) for k, v in value.items()
           if k not in _LADYBUG_INTERNAL and v is not None}
    if "_LABEL" in value:
        is_edge = "_SRC" in value
        out["_type" if is_edge else "_labels"] = value["_LABEL"] if is_edge else [value["_LABEL"]]
    return dict(sorted(out.items()))


def _neo4j_graph_value(value: Any) -> Any:
    """Nodes, relationships and paths of the neo4j driver, or None for anything else."""
    graph = sys.modules.get("neo4j.graph")  # only loaded when the Neo4j store is in use
    if graph is None:
        return None
    if isinstance(value, graph.Node):
        return _with_marker(value, "_labels", sorted(value.labels))
    if isinstance(value, graph.Relationship):
        return _with_marker(value, "_type", value.type)
    if isinstance(value, graph.Path):
        return {"nodes": [plain_value(n) for n in value.nodes],
                "relationships": [plain_value(r) for r in value.relationships]}
    return None


def _with_marker(entity, key: str, marker: Any) -> dict[str, Any]:
    props = {k: plain_value(v) for k, v in dict(entity).items() if v is not None}
    return dict(sorted({**props, key: marker}.items()))
