"""kgx: knowledge graphs and symbolic knowledge bases from document corpora.

`import kgx` stays light: the data model loads on first use, and heavy libraries (torch,
transformers, spaCy, the neo4j driver) only inside the code that needs them.

    >>> import kgx
    >>> kgx.Entity(name="Ada Lovelace", type="PERSON").id.startswith("ent_")
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgx.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Document": "kgx.models", "Chunk": "kgx.models", "Entity": "kgx.models",
    "Relation": "kgx.models", "Proposition": "kgx.models", "Provenance": "kgx.models",
    "GraphBatch": "kgx.models", "ChunkExtraction": "kgx.models",
    "KgxError": "kgx.errors",
    "ExtractConfig": "kgx.pipeline", "extract_corpus": "kgx.pipeline",
    "open_store": "kgx.graphdb",
}

__all__ = [  # noqa: RUF022 - grouped by module, like _LAZY
    "Document", "Chunk", "Entity", "Relation", "Proposition", "Provenance", "GraphBatch",
    "ChunkExtraction", "KgxError", "ExtractConfig", "extract_corpus", "open_store", "__version__",
]

if TYPE_CHECKING:
    from kgx.errors import KgxError
    from kgx.graphdb import open_store
    from kgx.models import (
        Chunk,
        ChunkExtraction,
        Document,
        Entity,
        GraphBatch,
        Proposition,
        Provenance,
        Relation,
    )
    from kgx.pipeline import ExtractConfig, extract_corpus


__getattr__ = lazy_exports("kgx", _LAZY)
