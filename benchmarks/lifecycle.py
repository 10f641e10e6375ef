"""Benchmark keeping a store current: deleting 1% and 10% of a 10k-passage store against
rebuilding it from scratch, and PDF reading speed.

The passages are those of benchmarks/retrieval.py (2WikiMultihopQA, then MuSiQue, then repeats
under new ids), extracted with spaCy into a LadybugDB store by `kgx extract`'s pipeline; that
build is the rebuild a user without `kgx delete` would run. Repeated passages reuse the first
copy's spaCy parse, so the rebuild measured here is faster than a real one and the ratios are
conservative. Each delete runs on a fresh copy of the built store, through
`kgx.lifecycle.delete_documents` (500 documents per transaction, orphans and aliases cleaned),
and the export of the result is checked against the documents kept. PDF reading writes a
multi-page PDF of the same passages with fpdf2 (running header and footer on every page) and
reads it with kgx's reader (pypdf plus clean-up), and, when installed, with pdfplumber and
pdfminer.six for comparison. Progress goes to stderr; the last line of stdout is JSON.

    python benchmarks/lifecycle.py [--passages 10000] [--pdf-pages 200] [--store PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import log

from retrieval import build_store, load_passages

TARGET_DELETE_SHARE = 0.05  # deleting 1% must take under 5% of the rebuild time


def time_delete(built: Path, share: float, seed: int = 7) -> dict:
    """Delete `share` of the documents of a copy of the store at `built`; time and check it."""
    from kgx.graphdb import open_store
    from kgx.lifecycle import delete_documents

    copy = built.with_name(f"{built.name}-delete-{share:g}")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(built, copy)
    try:
        with open_store(str(copy)) as store:
            ids = sorted(d.id for d in store.documents())
            doomed = random.Random(seed).sample(ids, round(share * len(ids)))
            start = time.perf_counter()
            report = delete_documents(store, doomed)
            seconds = time.perf_counter() - start
            left = {d.id for d in store.documents()}
            stray = store.query("MATCH (c:Chunk) WHERE c.doc_id IN $ids RETURN count(c)",
                                {"ids": doomed}).scalar()
            counts = store.counts()
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert left == set(ids) - set(doomed) and stray == 0, "the delete left documents behind"
    return {"documents": len(doomed), "seconds": round(seconds, 3),
            "docs_per_s": round(len(doomed) / seconds, 1), "chunks": report.chunks,
            "relations": report.relations, "orphan_entities": report.entities,
            "aliases_dropped": report.aliases, "counts_after": counts}


def time_pdf(passages: list[dict], pages: int, folder: Path) -> dict:
    """Pages per second reading a PDF of `pages` pages with kgx, pdfplumber and pdfminer.six."""
    from kgx.formats import read_pdf
    from kgx.testing.documents import write_pdf

    texts = [f"{p['title']}\n{p['text']}" for p in passages[:pages]]
    path = write_pdf(folder / "passages.pdf", [_latin1(t) for t in texts], title="Passages")
    readers = {"kgx (pypdf + clean-up)": lambda: read_pdf(path).text}
    try:
        import pdfplumber

        def plumber() -> str:
            with pdfplumber.open(path) as pdf:
                return "\n".join(page.extract_text() or "" for page in pdf.pages)

        readers["pdfplumber"] = plumber
    except ImportError:
        log("pdfplumber is not installed; compared without it")
    try:
        from pdfminer.high_level import extract_text

        readers["pdfminer.six"] = lambda: extract_text(path)
    except ImportError:
        log("pdfminer.six is not installed; compared without it")
    rows = {}
    for name, read in readers.items():
        start = time.perf_counter()
        text = read()
        seconds = time.perf_counter() - start
        rows[name] = {"seconds": round(seconds, 3), "pages_per_s": round(pages / seconds, 1),
                      "chars": len(text), "header_lines_left": text.count("Annual Review")}
        log(f"  {name}: {pages / seconds:.1f} pages/s")
    return rows


def _latin1(text: str) -> str:
    """The core PDF fonts cover Latin-1 only."""
    return text.encode("latin-1", "replace").decode("latin-1")


def print_tables(rebuild: float, deletes: dict, pdf: dict) -> None:
    head = f"{'operation':<34}{'seconds':>10}{'docs/s':>10}{'share of rebuild':>18}"
    print(head)
    print("-" * len(head))
    print(f"{'rebuild from scratch (extract)':<34}{rebuild:>10.1f}{'':>10}{1:>17.1%}")
    for label, row in deletes.items():
        print(f"{label:<34}{row['seconds']:>10.2f}{row['docs_per_s']:>10.1f}"
              f"{row['seconds'] / rebuild:>17.2%}")
    print()
    reference = pdf["kgx (pypdf + clean-up)"]["pages_per_s"]
    head = f"{'PDF reader':<26}{'pages/s':>10}{'vs kgx':>9}{'headers left':>14}"
    print(head)
    print("-" * len(head))
    for name, row in pdf.items():
        print(f"{name:<26}{row['pages_per_s']:>10.1f}{row['pages_per_s'] / reference:>8.2f}x"
              f"{row['header_lines_left']:>14}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--pdf-pages", type=int, default=200)
    parser.add_argument("--store", type=Path, default=None,
                        help="where to build the store (default: a new temporary folder)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    passages = load_passages(args.passages)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "store"
        shutil.rmtree(store, ignore_errors=True)
        log(f"building a {len(passages):,}-passage store at {store} (the rebuild)")
        built = build_store(store, passages)
        rebuild = built["extract_seconds"]
        deletes = {}
        for share in (0.01, 0.10):
            log(f"deleting {share:.0%} of the documents")
            deletes[f"delete {share:.0%} ({round(share * len(passages)):,} docs)"] = (
                time_delete(store, share))
        log(f"reading a {args.pdf_pages}-page PDF")
        pdf = time_pdf(passages, args.pdf_pages, Path(tmp))
        if args.store is None:
            shutil.rmtree(store, ignore_errors=True)
    print(f"corpus lifecycle, {len(passages):,} passages, LadybugDB, spaCy, "
          f"{os.cpu_count()} cores ({platform.machine()})")
    print_tables(rebuild, deletes, pdf)
    one = next(iter(deletes.values()))
    share = one["seconds"] / rebuild
    print(f"target: deleting 1% takes {share:.2%} of the rebuild time "
          f"({'met' if share < TARGET_DELETE_SHARE else 'missed'}; goal < "
          f"{TARGET_DELETE_SHARE:.0%})")
    print(json.dumps({
        "benchmark": "lifecycle", "passages": len(passages), "store": built,
        "rebuild_seconds": rebuild, "delete": deletes,
        "delete_1pct_share_of_rebuild": round(share, 4),
        "target_met": share < TARGET_DELETE_SHARE, "pdf": pdf, "pdf_pages": args.pdf_pages,
        "python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
