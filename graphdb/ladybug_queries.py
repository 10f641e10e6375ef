"""LadybugDB (Kùzu fork) Cypher for kgx's schema, as pure functions of schema names.

Labels, types and property names come from `graphdb.schema`, never from user input; values are
always bound parameters.
"""

from __future__ import annotations

from .schema import NODES, RELATIONSHIPS, NodeTable, RelTable


def create_node_table(table: NodeTable) -> str:
    """DDL for one node table; `id` is its primary key."""
    columns = ", ".join(f"{name} {kind}" for name, kind in table.properties.items())
    return f"CREATE NODE TABLE IF NOT EXISTS {table.label}({columns}, PRIMARY KEY(id))"


def create_rel_table(table: RelTable) -> str:
    """DDL for one relationship table."""
    columns = "".join(f", {name} {kind}" for name, kind in table.properties.items())
    return (f"CREATE REL TABLE IF NOT EXISTS {table.type}"
            f"(FROM {table.source} TO {table.target}{columns})")


def schema_statements() -> list[str]:
    """Every DDL statement of the schema, nodes first."""
    return [create_node_table(t) for t in NODES] + [create_rel_table(t) for t in RELATIONSHIPS]


def existing_node_ids(label: str) -> str:
    """Which of `$ids` are already nodes of `label` (primary-key lookups)."""
    return f"UNWIND $ids AS i MATCH (n:{label} {{id: i}}) RETURN n.id"


def update_nodes(label: str, properties: list[str]) -> str:
    """Set `properties` on existing nodes of `label` from `$rows`."""
    sets = ", ".join(f"n.{name} = row.{name}" for name in properties)
    return f"UNWIND $rows AS row MATCH (n:{label} {{id: row.id}}) SET {sets}"


def existing_edges(table: RelTable) -> str:
    """Which `$rows` edges already exist; keyed by `id` if the type has one, else by endpoints.

    Both endpoints are bound by primary key first: the comma form `MATCH (a {…}), (b {…})`
    plans a cross product on LadybugDB and runs about 600× slower.
    """
    head = (f"UNWIND $rows AS row MATCH (a:{table.source} {{id: row.src}}) WITH a, row "
            f"MATCH (a)-[r:{table.type}]->(b:{table.target} {{id: row.dst}})")
    if "id" in table.properties:
        return f"{head} WHERE r.id = row.id RETURN r.id"
    return f"{head} RETURN a.id, b.id"


def document_keys() -> str:
    """The `extracted_with` lists of the documents in `$ids`."""
    return "UNWIND $ids AS i MATCH (d:Document {id: i}) RETURN d.id, d.extracted_with"
