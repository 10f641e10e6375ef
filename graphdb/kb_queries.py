"""The knowledge base's Cypher, run unchanged on Neo4j and LadybugDB; values are always bound.

Only Cypher both backends speak: every column aliased, no ORDER BY on nodes, no `type(r)`.
"""

from __future__ import annotations

from .schema import NODE_BY_LABEL

ENTRY_FIELDS = tuple(NODE_BY_LABEL["KnowledgeEntry"].properties)
_SET = ", ".join(f"k.{name} = row.{name}" for name in ENTRY_FIELDS
                 if name not in ("id", "created_at"))


def upsert_entries(*, keep_created: bool, link: bool) -> str:
    """Upsert `$rows` as entries and relink each to the CONCEPT entities in `row.entities`.

    A row is the entry's properties plus `entities` ({id, name, type, aliases} maps). Links of
    an entry to concepts it no longer names are dropped; an entity is created if missing and
    left as it is otherwise. With `keep_created`, an existing entry keeps its `created_at`
    (a rebuild); without, the row's wins (an import). Returns how many links were made.

    `link=False` is for rows that all name no concepts: LadybugDB cannot type a list that is
    empty in every row, so those rows carry no `entities` at all.
    """
    created = "coalesce(k.created_at, row.created_at)" if keep_created else "row.created_at"
    head = (
        "UNWIND $rows AS row "
        "MERGE (k:KnowledgeEntry {id: row.id}) "
        f"SET {_SET}, k.created_at = {created} "
        "WITH k, row "
        "OPTIONAL MATCH (k)-[old:KB_ABOUT]->(:Entity) "
        "DELETE old "
    )
    if not link:
        return head + "RETURN count(DISTINCT k) AS entries"
    return head + (
        "WITH DISTINCT k, row "
        "UNWIND row.entities AS c "
        "MERGE (e:Entity {id: c.id}) "
        "ON CREATE SET e.name = c.name, e.type = c.type, e.aliases = c.aliases "
        "MERGE (k)-[r:KB_ABOUT]->(e) "
        "RETURN count(r) AS links"
    )


ALL_ENTRIES = (
    "MATCH (k:KnowledgeEntry) RETURN "
    + ", ".join(f"k.{name} AS {name}" for name in ENTRY_FIELDS)
    + " ORDER BY k.id"
)

ENTRY_PROBLEMS = "MATCH (k:KnowledgeEntry) RETURN DISTINCT k.problem AS problem"

COUNT_ENTRIES = "MATCH (k:KnowledgeEntry) RETURN count(k) AS entries"

ENTRY_CONCEPTS = (
    "MATCH (k:KnowledgeEntry)-[:KB_ABOUT]->(e:Entity) "
    "RETURN k.id AS entry, e.id AS entity, e.name AS name ORDER BY k.id, e.id"
)
