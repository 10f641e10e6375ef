"""Small real corpora on disk, graph snapshots to compare stores, and killing a real `kgx`."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Shared entities across files on purpose: "Charles Babbage" and "London" in a and b, and b
# names Ada Lovelace only as "Lovelace", an alias that must leave with b.
PEOPLE = {
    "a.txt": "Ada Lovelace worked with Charles Babbage in London. Ada Lovelace wrote the first "
             "computer program.",
    "b.txt": "Charles Babbage designed the Analytical Engine in London. Lovelace translated an "
             "article about the Analytical Engine.",
    "c.txt": "Marie Curie discovered polonium in Paris. Pierre Curie worked with Marie Curie.",
}
ADDED = {"d.txt": "Alan Turing studied at Cambridge. Alan Turing broke the Enigma code."}
EDITED = {"b.txt": "Charles Babbage built the Difference Engine in London. Babbage taught "
                   "mathematics at Cambridge."}


def write_corpus(folder: Path, texts: dict[str, str]) -> Path:
    """Write each text to `folder/name`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@functools.cache
def spacy_extractor():
    """One warmed-up spaCy extractor for the whole test session."""
    from kgx.pipeline import ExtractConfig, make_extractor

    extractor = make_extractor(ExtractConfig())
    extractor.warm_up()
    return extractor


def extract(store, *paths: Path, batch_documents: int = 128):
    """`extract_corpus` with the shared spaCy extractor."""
    from kgx.pipeline import ExtractConfig, extract_corpus

    return extract_corpus(list(paths), store, ExtractConfig(batch_documents=batch_documents),
                          extractor=spacy_extractor())


def clear(store) -> None:
    """Remove every node and edge of the store."""
    store.query("MATCH (n) DETACH DELETE n", write=True)


def snapshot(store) -> list[dict]:
    """The exported graph, sorted, with run ids (which differ between runs) blanked."""
    from kgx.export import export_graph

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "graph.jsonl"
        export_graph(store, "jsonl", out)
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for record in records:
        if "run_id" in record:
            record["run_id"] = "RUN"
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def kgx_command(*args: str) -> list[str]:
    """The command line running `kgx ARGS` with this interpreter."""
    return [sys.executable, "-m", "kgx.cli", *args]


def run_kgx(*args: str) -> subprocess.CompletedProcess:
    """Run `kgx ARGS` in a subprocess; it must succeed."""
    result = subprocess.run(kgx_command(*args), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def kill_after(args: list[str], marker: str, count: int) -> None:
    """Start `kgx ARGS` and SIGKILL it once `count` stderr lines contain `marker`."""
    process = subprocess.Popen(kgx_command(*args), stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in process.stderr:
        seen += marker in line
        if seen >= count:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the command ended before it could be killed"


MULTIHOP_50 = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "multihop_50.jsonl"


def passages(n: int) -> dict[str, str]:
    """The first `n` 2Wiki passages of the test fixture as `p00.txt`… files' texts."""
    lines = MULTIHOP_50.read_text(encoding="utf-8").splitlines()[:n]
    return {f"p{i:02d}.txt": json.loads(line)["text"] for i, line in enumerate(lines)}
