"""Graph stores: the `GraphStore` protocol, the embedded LadybugDB default and Neo4j.

    >>> from kgx.graphdb import open_store
    >>> store = open_store("./kgx-store")          # embedded, no server
    >>> store = open_store("bolt://127.0.0.1:7687")  # Neo4j, credentials from the environment
"""

from __future__ import annotations

import os

from .protocol import GraphStore, LocalFolder, NativeVectorIndexes, QueryResult, RunRecord

NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")
DEFAULT_STORE = "./kgx-store"

__all__ = ["DEFAULT_STORE", "GraphStore", "LocalFolder", "NativeVectorIndexes", "QueryResult",
           "RunRecord", "open_store"]


def open_store(uri: str | None = None, *, read_only: bool = False) -> GraphStore:
    """A store for `uri`: neo4j:// or bolt:// means Neo4j, anything else a LadybugDB folder.

    Without `uri`, `$KGX_STORE` or `./kgx-store` is used. Nothing connects until first use.
    """
    uri = uri or os.environ.get("KGX_STORE") or DEFAULT_STORE
    if uri.startswith(NEO4J_SCHEMES):
        from .neo4j_store import Neo4jStore

        return Neo4jStore(uri)
    from .ladybug_store import LadybugStore

    return LadybugStore(uri, read_only=read_only)
