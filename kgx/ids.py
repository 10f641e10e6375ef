"""Content-derived ids, so that re-running the same input writes the same nodes and edges."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s&+-]")
_SPACE = re.compile(r"\s+")
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+")
_POSSESSIVE = re.compile(r"[’']s\b")


def stable_id(prefix: str, *parts: object) -> str:
    """A short, stable id: `prefix_` plus 20 hex chars of a BLAKE2b hash over the parts."""
    digest = hashlib.blake2b(digest_size=10)
    for part in parts:
        digest.update(b"\x1f")
        digest.update(("" if part is None else str(part)).encode("utf-8"))
    return f"{prefix}_{digest.hexdigest()}"


def normalize_name(name: str) -> str:
    """The matching key of an entity name: NFKC, lower case, no possessive, article or punctuation.

    >>> normalize_name("The  Beatles'")
    'beatles'
    """
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    text = _POSSESSIVE.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    return _LEADING_ARTICLE.sub("", text)


def entity_id(name: str, entity_type: str) -> str:
    """The canonical id of a new entity, from its type and normalised name."""
    return stable_id("ent", entity_type.upper(), normalize_name(name) or name.strip())


def version_key(external_id: str | None, source: str) -> str:
    """What identifies a document across versions: its external id, else its source made
    absolute (so `docs/a.txt` and `/home/me/docs/a.txt` are the same file); "" if neither."""
    if external_id is not None:
        return external_id
    return os.path.abspath(source) if source else ""
