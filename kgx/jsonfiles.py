"""Reading JSON and JSONL files (kgx llm, kgx eval) with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kgx.errors import InputError


def read_text(path: Path) -> str:
    """A UTF-8 file's text, or an `InputError` that says which file could not be read."""
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file; check the path.")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"Cannot read {path}: {e}; it must be UTF-8 text.") from e


def read_json(path: Path) -> Any:
    """A whole JSON file."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix the file.") from e


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file."""
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: not valid JSON ({e.msg}); fix or remove that "
                             "line.") from e
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object per line, got "
                             f"{type(record).__name__}.")
        yield number, record


def string_list(value: Any, where: str, field: str) -> list[str]:
    """`value` as a list of strings, or an `InputError` naming `where` and `field`."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f'{where}: "{field}" must be a list of strings.')
    return value
