"""Read files and folders into `Document`s, reporting what it skips.

`.txt`, `.md` and `.jsonl` are read here; `.pdf`, `.html`/`.htm` and `.docx` by `kgx.formats`
and `.csv`/`.parquet` (one row a document) by `kgx.tabular`, with the `kgx[formats]` extra.

Bad input never stops a run: each unreadable file or record becomes a `Skipped` entry that says
what is wrong and how to fix it, and the rest is read.

    >>> result = read_documents(["samples/corpus"])
    >>> len(result.documents) > 0, result.skipped
    (True, [])
"""

from __future__ import annotations

import codecs
import fnmatch
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict

from kgx.errors import ConfigError, InputError, MissingExtraError
from kgx.formats import FORMAT_EXTENSIONS
from kgx.models import Document
from kgx.tabular import TABLE_EXTENSIONS, InputOptions

SUPPORTED_EXTENSIONS = (".txt", ".md", ".jsonl", *FORMAT_EXTENSIONS, *TABLE_EXTENSIONS)
DEFAULT_MAX_BYTES = 20_000_000
_SNIFF_BYTES = 8192
_TEXT_FIELDS = ("text", "content")  # "content"/"topic" are what the MINE essays call them
_TITLE_FIELDS = ("title", "topic")
_UTF16_HINT = "; if it is UTF-16 text, re-encode it as UTF-8"


class Skipped(BaseModel):
    """An input that was not read: a file, or one `path:LINE` record of a `.jsonl` file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    reason: str


class IngestResult(BaseModel):
    """The documents read and the inputs skipped, each in input order."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = []
    skipped: list[Skipped] = []


def read_documents(
    paths: Sequence[Path | str], max_bytes: int = DEFAULT_MAX_BYTES,
    options: InputOptions | None = None,
) -> IngestResult:
    """Read every document under `paths` (files or folders); see `iter_documents`."""
    result = IngestResult()
    for item in iter_documents(paths, max_bytes=max_bytes, options=options):
        if isinstance(item, Document):
            result.documents.append(item)
        else:
            result.skipped.append(item)
    return result


def iter_documents(
    paths: Iterable[Path | str], max_bytes: int = DEFAULT_MAX_BYTES,
    options: InputOptions | None = None,
) -> Iterator[Document | Skipped]:
    """Yield documents one at a time, for corpora too big to hold, with skipped inputs in order.

    Folders are walked recursively in sorted order, keeping the files `options.include` and
    `options.exclude` select. A `.txt`, `.md`, `.pdf`, `.html` or `.docx` file is one document of
    at most `max_bytes` bytes; each line of a `.jsonl` file, and each row of a `.csv` or
    `.parquet` table, is one record of at most `max_bytes`.
    """
    if max_bytes < 1:
        raise ConfigError(f"max_bytes must be at least 1, got {max_bytes}")
    options = options or InputOptions()
    for path in list_inputs(paths, options):
        if isinstance(path, Skipped):
            yield path
        else:
            yield from read_file(path, max_bytes, options)


def list_inputs(paths: Iterable[Path | str], options: InputOptions | None = None
                ) -> Iterator[Path | Skipped]:
    """The files `iter_documents` reads, each once and in its order, with the inputs it skips
    before reading (missing paths, unsupported extensions, files listed twice)."""
    seen: set[Path] = set()
    for path in _expand(paths, options or InputOptions()):
        if isinstance(path, Skipped):
            yield path
        elif (key := path.resolve()) in seen:
            yield Skipped(source=str(path), reason="listed twice; read once")
        else:
            seen.add(key)
            yield path


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
              options: InputOptions | None = None) -> Iterator[Document | Skipped]:
    """The documents of one input file, or why it (or one of its records) was skipped."""
    try:
        yield from _read_file(path, max_bytes, options or InputOptions())
    except (InputError, MissingExtraError) as e:
        yield Skipped(source=str(path), reason=str(e))
    except OSError as e:
        yield Skipped(source=str(path), reason=f"cannot read it: {e.strerror or e}")


def _read_file(path: Path, max_bytes: int, options: InputOptions
               ) -> Iterator[Document | Skipped]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(path, max_bytes)
    elif suffix in TABLE_EXTENSIONS:
        from kgx.tabular import read_table

        for item in read_table(path, options, max_bytes):
            yield item if isinstance(item, Document) else Skipped(source=item[0],
                                                                   reason=item[1])
    elif suffix in FORMAT_EXTENSIONS:
        from kgx.formats import read_format_file

        _check_size(path, max_bytes)
        yield read_format_file(path)
    else:
        yield _read_text_file(path, max_bytes)


def _expand(paths: Iterable[Path | str], options: InputOptions) -> Iterator[Path | Skipped]:
    """Files named directly, and the selected files of each folder, recursively and sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*")
                           if p.is_file() and _selected(p.relative_to(path), options))
            if not files:
                yield Skipped(source=str(path), reason="folder holds no files"
                              + (" that --include/--exclude select"
                                 if options.include or options.exclude else ""))
            yield from (_check_extension(file) for file in files)
        elif path.is_file():
            yield _check_extension(path)
        else:
            yield Skipped(source=str(path), reason="no such file or folder; check the path")


def _selected(relative: Path, options: InputOptions) -> bool:
    """Whether a file of a folder passes the include and exclude globs (on its path in the
    folder, or its name)."""
    def matches(patterns: tuple[str, ...]) -> bool:
        return any(relative.match(p) or fnmatch.fnmatch(relative.as_posix(), p)
                   for p in patterns)

    return (not options.include or matches(options.include)) and not matches(options.exclude)


def _check_extension(path: Path) -> Path | Skipped:
    if path.suffix.lower() in SUPPORTED_EXTENSIONS:
        return path
    found, wanted = path.suffix or "(none)", ", ".join(SUPPORTED_EXTENSIONS)
    return Skipped(source=str(path), reason=f"unsupported extension {found}; kgx reads {wanted}")


def _check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(_too_big(size, max_bytes, "split the file"))


def _read_text_file(path: Path, max_bytes: int) -> Document:
    _check_size(path, max_bytes)
    text = _decode(path.read_bytes(), offset=0)
    if not text.strip():
        raise InputError("empty file (nothing but white space)")
    return Document(text=text, title=path.stem, source=str(path))


def _read_jsonl(path: Path, max_bytes: int) -> Iterator[Document | Skipped]:
    """One document per JSON line; blank lines are not records and are passed over."""
    records = 0
    with path.open("rb") as f:
        if b"\x00" in f.read(_SNIFF_BYTES):
            raise InputError("binary file (contains NUL bytes), not JSON lines" + _UTF16_HINT)
        f.seek(0)
        for number, offset, line, size in _lines(f, max_bytes):
            if line is not None and not line.strip():
                continue
            records += 1
            source = f"{path}:{number}"
            try:
                yield _parse_record(line, size, offset, max_bytes, source)
            except InputError as e:
                yield Skipped(source=source, reason=str(e))
    if records == 0:
        raise InputError("empty file (no JSON records)")


def _lines(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, int, bytes | None, int]]:
    """(line number, byte offset, line, byte length); a line over `max_bytes` comes back None.

    A long line is skipped in 1 MiB reads, so an oversized record is never held whole.
    """
    number = offset = 0
    while line := f.readline(max_bytes + 1):
        number += 1
        size = len(line)
        if size > max_bytes and not line.endswith(b"\n"):
            line = None
            while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                size += len(rest)
            size += len(rest)
        yield number, offset, line, size
        offset += size


def _parse_record(
    line: bytes | None, size: int, offset: int, max_bytes: int, source: str
) -> Document:
    if line is None:
        raise InputError(_too_big(size, max_bytes, "split the record"))
    try:
        record = json.loads(_decode(line, offset))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg} at column {e.colno}") from e
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise InputError(f'expected a JSON object with a "text" field, got a {kind}')
    text = next((record[k] for k in _TEXT_FIELDS if k in record), None)
    if text is None:
        found = ", ".join(sorted(record)) or "none"
        raise InputError(f'no "text" field; add "text" with the document text (fields: {found})')
    if not isinstance(text, str):
        raise InputError(f'"text" must be a string, not {type(text).__name__}')
    if not text.strip():
        raise InputError('empty record ("text" is empty or only white space)')
    title = next((record[k] for k in _TITLE_FIELDS if isinstance(record.get(k), str)), "")
    external_id = None if record.get("id") is None else str(record["id"])
    return Document(text=text, title=title, source=source, external_id=external_id)


def _decode(data: bytes, offset: int) -> str:
    """UTF-8 text without a leading BOM; `offset` places `data` in its file for the message."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"binary content (NUL byte at byte offset {offset + nul})" + _UTF16_HINT)
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = offset + skip + e.start
        raise InputError(f"not valid UTF-8 at byte offset {at} ({e.reason}); "
                         "re-encode it as UTF-8") from e


def _too_big(size: int, max_bytes: int, fix: str) -> str:
    return f"{size:,} bytes is over the limit of {max_bytes:,} bytes; {fix} or raise max_bytes"
