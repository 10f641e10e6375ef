"""CSV and Parquet tables as documents: one row a document, from named columns.

    options = InputOptions(text_column="body", id_column="doc_id", title_column="headline")
    for item in read_table(Path("articles.parquet"), options, max_bytes=20_000_000): ...
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kgx.errors import InputError
from kgx.models import Document

TABLE_EXTENSIONS = (".csv", ".parquet")
_PARQUET_ROWS = 4096


class InputOptions(BaseModel):
    """How to read inputs: table columns, and which files of a folder to take."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text_column: str = Field(default="text", description="CSV/Parquet column with the text")
    id_column: str | None = Field(default=None, description="column with a stable external id")
    title_column: str | None = Field(default=None, description="column with the title")
    include: tuple[str, ...] = Field(
        default=(), description="glob patterns a file in a folder must match (any of them)")
    exclude: tuple[str, ...] = Field(
        default=(), description="glob patterns of files in a folder to leave out")


def read_table(path: Path, options: InputOptions, max_bytes: int) -> Iterator[Document | Any]:
    """Documents (and `Skipped` rows, as `(source, reason)`) of a CSV or Parquet file."""
    rows = _parquet_rows(path) if path.suffix.lower() == ".parquet" else _csv_rows(path)
    first = True
    for number, row in rows:
        if first:
            _check_columns(row, options)
            first = False
        yield _document(row, options, f"{path}:{number}", max_bytes)
    if first:
        raise InputError("empty table (no rows)")


def _check_columns(row: dict[str, Any], options: InputOptions) -> None:
    wanted = [options.text_column, options.id_column, options.title_column]
    missing = [name for name in wanted if name is not None and name not in row]
    if missing:
        found = ", ".join(map(str, row)) or "none"
        raise InputError(f"no column {', '.join(map(repr, missing))}; pass --text-column "
                         f"(and --id-column / --title-column) naming columns it has: {found}")


def _document(row: dict[str, Any], options: InputOptions, source: str,
              max_bytes: int) -> Document | tuple[str, str]:
    text = row.get(options.text_column)
    if not isinstance(text, str) or not text.strip():
        return source, f'empty or missing text in column "{options.text_column}"'
    if len(text.encode("utf-8")) > max_bytes:
        return source, f"the text is over the limit of {max_bytes:,} bytes; raise max_bytes"
    external_id = row.get(options.id_column) if options.id_column else None
    title = row.get(options.title_column) if options.title_column else None
    return Document(text=text, title="" if title is None else str(title), source=source,
                    external_id=None if external_id is None else str(external_id))


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            yield from enumerate(csv.DictReader(f), start=1)
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 at byte offset {e.start}; re-encode it as UTF-8") from e
    except csv.Error as e:
        raise InputError(f"malformed CSV: {e}") from e


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
        number = 0
        for batch in table.iter_batches(batch_size=_PARQUET_ROWS):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"unreadable Parquet file ({e}): write it again") from e
