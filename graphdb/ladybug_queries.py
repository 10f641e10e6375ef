"""LadybugDB (Kùzu fork) Cypher for kgx's schema, as pure functions of schema names.

Labels, types and property names come from `graphdb.schema`, never from user input; values are
always bound parameters.
"""

from __future__ import annotations

from .schema import ALL_RELATIONSHIPS, NODES, NodeTable, RelTable


def create_node_table(table: NodeTable) -> str:
    """DDL for one node table; `id` is its primary key."""
    columns = ", ".join(f"{name} {kind}" for name, kind in table.properties.items())
    return f"CREATE NODE TABLE IF NOT EXISTS {table.label}({columns}, PRIMARY KEY(id))"


def create_rel_table(table: RelTable) -> str:
    """DDL for one relationship table."""
    columns = "".join(f", {name} {kind}" for name, kind in table.properties.items())
    return (f"CREATE REL TABLE IF NOT EXISTS {table.type}"
            f"(FROM {table.source} TO {table.target}{columns})")


def add_missing_columns(table: NodeTable | RelTable) -> list[str]:
    """DDL that adds properties a store made by an older kgx lacks (a no-op otherwise)."""
    name = table.label if isinstance(table, NodeTable) else table.type
    return [f"ALTER TABLE {name} ADD IF NOT EXISTS {column} {kind}"
            for column, kind in table.properties.items() if column != "id"]


def schema_statements() -> list[str]:
    """Every DDL statement of the schema, nodes first, then upgrades of older stores."""
    tables = [*NODES, *ALL_RELATIONSHIPS]
    return ([create_node_table(t) for t in NODES]
            + [create_rel_table(t) for t in ALL_RELATIONSHIPS]
            + [statement for table in tables for statement in add_missing_columns(table)])


# Writes scan an Arrow table with LOAD FROM: measured on 2 cores it is 1.6× (320 rows) to 5×
# (5k rows) faster than UNWIND over a Python list, and unlike COPY it adds nothing to COMMIT
# (COPY costs about 50 ms a transaction). Columns of `$rows` are named after the properties.


def existing_node_ids(label: str) -> str:
    """Which ids of `$rows` (a table with an `id` column) are already nodes of `label`."""
    return f"LOAD FROM $rows MATCH (n:{label} {{id: id}}) RETURN n.id"


ENTITY_ALIASES = "LOAD FROM $rows MATCH (e:Entity {id: id}) RETURN e.id, e.aliases"
DOCUMENT_KEYS = "LOAD FROM $rows MATCH (d:Document {id: id}) RETURN d.id, d.extracted_with"


def update_nodes(label: str, properties: list[str]) -> str:
    """Set `properties` on the existing nodes of `label` listed in `$rows`."""
    sets = ", ".join(f"n.{name} = {name}" for name in properties)
    return f"LOAD FROM $rows MATCH (n:{label} {{id: id}}) SET {sets}"


def create_nodes(table: NodeTable) -> str:
    """Create a node per row of `$rows` (rows known to be new); returns how many."""
    values = ", ".join(f"{name}: {name}" for name in table.properties)
    return f"LOAD FROM $rows CREATE (n:{table.label} {{{values}}}) RETURN count(n)"


def create_edges(table: RelTable) -> str:
    """Create an edge per row of `$rows` (src, dst, properties); returns how many were made.

    Both endpoints are bound by primary key in turn: the comma form `MATCH (a {…}), (b {…})`
    plans a cross product on LadybugDB and runs about 600× slower.
    """
    carried = "".join(f", {name}" for name in table.properties)
    values = ", ".join(f"{name}: {name}" for name in table.properties)
    return (f"LOAD FROM $rows MATCH (a:{table.source} {{id: src}}) WITH a, dst{carried} "
            f"MATCH (b:{table.target} {{id: dst}}) "
            f"CREATE (a)-[r:{table.type} {{{values}}}]->(b) RETURN count(r)")


# Surface forms of a chunk's entity from several extractors add up.
UNION_MENTION_SURFACES = (
    "LOAD FROM $rows MATCH (a:Chunk {id: src})-[r:MENTIONS]->(b:Entity) WHERE b.id = dst "
    "SET r.surfaces = list_sort(list_distinct(list_concat(coalesce(r.surfaces, []), surfaces)))"
)


def existing_edges(table: RelTable) -> str:
    """Which `$rows` edges exist; keyed by `id` if the type has one, else by endpoints."""
    keyed = "id" in table.properties
    head = (f"LOAD FROM $rows MATCH (a:{table.source} {{id: src}})-[r:{table.type}]->"
            f"(b:{table.target}) WHERE b.id = dst")
    if keyed:
        return f"{head} AND r.id = id RETURN r.id"
    return f"{head} RETURN a.id, b.id"
