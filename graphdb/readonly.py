"""A lexical guard that spots write clauses in Cypher, for stores without read-only transactions."""

from __future__ import annotations

import re

# Strings, quoted identifiers and comments are removed first, so a keyword inside them is ignored.
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL
)
_WRITE_CLAUSES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|ALTER|COPY|LOAD|INSTALL|UNINSTALL|ATTACH|"
    r"IMPORT|EXPORT|CHECKPOINT|BEGIN|COMMIT|ROLLBACK|FOREACH)\b",
    re.IGNORECASE,
)


def write_clause(cypher: str) -> str | None:
    """The first write clause in `cypher`, upper-cased, or None for a read-only query."""
    match = _WRITE_CLAUSES.search(_LITERALS.sub(" ", cypher))
    return match.group(1).upper() if match else None
