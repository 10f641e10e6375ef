"""The knowledge base as JSON lines, one entry per line, for people to read, edit and share.

    export_kb(store, Path("kb.jsonl"))    # in id order; an import and a new export match it
    import_kb(other_store, Path("kb.jsonl"))

An import checks every line first and writes nothing if one is wrong; an edited line keeps
its id, and a line without an id gets one from its content.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from kgx.errors import InputError
from kgx.graphdb import GraphStore
from kgx.jsonfiles import read_text
from kgx.kb.entries import KnowledgeEntry
from kgx.kb.store import load_entries, save_entries

MAX_REPORTED = 10


def export_kb(store: GraphStore, path: Path) -> int:
    """Write every entry of `store` to `path` as JSONL; returns how many."""
    entries = load_entries(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry.model_dump(), ensure_ascii=False) + "\n")
    return len(entries)


def import_kb(store: GraphStore, path: Path) -> int:
    """Upsert the entries of a JSONL file into `store`; returns how many.

    Every bad line is reported as FILE:LINE with what to fix, and then nothing is written.
    """
    entries = read_entries(path)
    save_entries(store, entries, keep_created=False)
    return len(entries)


def read_entries(path: Path) -> list[KnowledgeEntry]:
    """The entries of a JSONL file, or one `InputError` listing every bad line."""
    entries, errors, lines_of = [], [], {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = _entry(line)
        except ValueError as e:
            errors.append(f"{path}:{number}: {e}")
            continue
        if entry.id in lines_of:
            errors.append(f"{path}:{number}: id {entry.id} is also on line {lines_of[entry.id]}; "
                          "give each entry its own id.")
            continue
        lines_of[entry.id] = number
        entries.append(entry)
    if errors:
        more = f"\n… and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        raise InputError(f"{len(errors)} bad lines in {path}, nothing was imported; fix them "
                         "and import again:\n" + "\n".join(errors[:MAX_REPORTED]) + more)
    return entries


def _entry(line: str) -> KnowledgeEntry:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    try:
        return KnowledgeEntry.model_validate(record)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or '(entry)'}: {item['msg']}"
                             for item in e.errors()[:3])
        raise ValueError(problems) from e
