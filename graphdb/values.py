"""Convert driver values (nodes, relationships, paths, temporal types) into plain Python.

Both stores return the same shapes: a node is a dict of its non-null properties plus `_labels`,
a relationship a dict of its non-null properties plus `_type`, so the same query compares equal.
"""

from __future__ import annotations

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
    kind = type(value).__name__
    module = type(value).__module__
    if not module.startswith("neo4j"):
        return None
    if kind == "Node":
        props = {k: plain_value(v) for k, v in dict(value).items() if v is not None}
        return dict(sorted({**props, "_labels": sorted(value.labels)}.items()))
    if kind == "Path":
        return {"nodes": [plain_value(n) for n in value.nodes],
                "relationships": [plain_value(r) for r in value.relationships]}
    if hasattr(value, "type") and hasattr(value, "start_node"):  # a Relationship subclass
        props = {k: plain_value(v) for k, v in dict(value).items() if v is not None}
        return dict(sorted({**props, "_type": value.type}.items()))
    return None
