"""Distillation datasets: teacher outputs in, chat-formatted JSONL split by document out.

Two sources give `Example`s:
- `examples_from_teacher_openie`: HippoRAG-style teacher files (`docs[].{title, passage,
  extracted_entities, extracted_triples}`), e.g. GPT-3.5 NER + OpenIE;
- `examples_from_store`: what a kgx teacher extractor (synthkg, direct, ...) stored, per chunk,
  with its propositions.

`split_by_document` puts every example of one document on one side, chosen by a seeded hash of
the document name, so the split is stable when examples are added or reordered.

    examples = examples_from_teacher_openie(Path("gpt35_openie.json"))
    splits = split_by_document(examples, SplitSpec(seed=13))
    write_dataset(Path("data/"), splits, sources=["gpt35_openie.json"])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgx.errors import InputError
from kgx.jsonfiles import read_json, read_jsonl

from .format import DEFAULT_FORMAT, student_format

SPLITS = ("train", "validation", "test")


class Example(BaseModel):
    """One passage or chunk with the teacher's entities, triples and propositions."""

    id: str
    doc: str
    """The document it comes from; the split keeps each document on one side."""
    text: str
    entities: list[str] = Field(default_factory=list)
    triples: list[list[str]] = Field(default_factory=list)
    propositions: list[str] = Field(default_factory=list)
    source: str = ""

    def messages(self, fmt: str = DEFAULT_FORMAT) -> list[dict[str, str]]:
        """The chat the student trains on: system, user (the text), assistant (the target), in
        the reply format `fmt` ("v2" compact lines, or "v1" JSON)."""
        form = student_format(fmt)
        prompt = form.messages(self.text, propositions=bool(self.propositions))
        target = form.target(self.entities, self.triples, text=self.text,
                             propositions=self.propositions)
        return [*prompt, {"role": "assistant", "content": target}]


class SplitSpec(BaseModel):
    """Fractions of documents for validation and test (train gets the rest), and the seed."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 13
    validation: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitSpec:
        if self.validation + self.test >= 1:
            raise ValueError("validation + test must leave documents for training (sum < 1)")
        return self

    def side(self, doc: str) -> str:
        """The split `doc` belongs to: a uniform draw from a hash of (seed, doc)."""
        digest = hashlib.sha256(f"{self.seed}\x00{doc}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < self.test:
            return "test"
        return "validation" if u < self.test + self.validation else "train"


def examples_from_teacher_openie(path: Path) -> list[Example]:
    """Examples from a teacher file in the `teacher_openie` format, one per passage."""
    data = read_json(path)
    docs = data.get("docs") if isinstance(data, dict) else data
    if not isinstance(docs, list):
        raise InputError(f"{path}: expected {{\"docs\": [...]}} or a list of passages, as in "
                         f"HippoRAG's OpenIE output.")
    examples = []
    for i, doc in enumerate(docs):
        where = f"{path}: docs[{i}]"
        if not isinstance(doc, dict):
            raise InputError(f"{where} is not an object; each passage needs title and passage.")
        text = doc.get("passage") or doc.get("text")
        title = doc.get("title")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where} has no passage text (field 'passage' or 'text').")
        if not isinstance(title, str) or not title.strip():
            raise InputError(f"{where} has no title; the split by document needs it.")
        entities = _strings(doc.get("extracted_entities", []), f"{where}.extracted_entities")
        triples = doc.get("extracted_triples", [])
        if not isinstance(triples, list):
            raise InputError(f"{where}.extracted_triples must be a list of [s, p, o] lists.")
        examples.append(Example(
            id=f"{path.stem}:{i}", doc=title, text=text, entities=entities,
            triples=[[str(x) for x in t] for t in triples if isinstance(t, list) and len(t) == 3],
            source=path.name))
    return examples


def examples_from_store(store: Any, extractor: str) -> list[Example]:
    """Examples from the chunks of documents a kgx teacher extractor finished, one per chunk.

    Entities are those the chunk MENTIONS together with the endpoints of the extractor's
    relations; triples and propositions are the extractor's own (by provenance).
    """
    from graphdb.cypher import (
        TEACHER_CHUNKS,
        TEACHER_MENTIONS,
        TEACHER_PROPOSITIONS,
        TEACHER_RELATIONS,
    )

    params = {"extractor": extractor}
    done = store.completed_documents(extractor)
    chunks = [row for row in store.query(TEACHER_CHUNKS).records() if row["doc"] in done]
    if not chunks:
        raise InputError(f"the store {store.uri} has no chunks extracted by {extractor!r}; "
                         f"run `kgx extract --extractor ...` first, or check the name with "
                         f"`kgx query \"MATCH (r:Run) RETURN r.extractor AS e\"`.")
    entities: dict[str, list[str]] = {}
    triples: dict[str, list[list[str]]] = {}
    propositions: dict[str, list[str]] = {}
    for row in store.query(TEACHER_MENTIONS).records():
        entities.setdefault(row["chunk"], []).append(row["name"])
    for row in store.query(TEACHER_RELATIONS, params).records():
        triples.setdefault(row["chunk"], []).append([row["s"], row["p"], row["o"]])
        entities.setdefault(row["chunk"], []).extend([row["s"], row["o"]])
    for row in store.query(TEACHER_PROPOSITIONS, params).records():
        propositions.setdefault(row["chunk"], []).append(row["text"])
    return [Example(id=row["chunk"], doc=row["doc"], text=row["text"],
                    entities=entities.get(row["chunk"], []),
                    triples=triples.get(row["chunk"], []),
                    propositions=propositions.get(row["chunk"], []), source=extractor)
            for row in sorted(chunks, key=lambda r: (r["doc"], r["position"]))]


def split_by_document(examples: Sequence[Example], spec: SplitSpec) -> dict[str, list[Example]]:
    """Train, validation and test examples; all examples of a document land on one side."""
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for example in examples:
        splits[spec.side(example.doc)].append(example)
    return splits


def write_dataset(out: Path, splits: Mapping[str, Sequence[Example]], *, spec: SplitSpec,
                  sources: Iterable[str]) -> dict[str, Any]:
    """Write `train|validation|test.jsonl` (chat messages plus the teacher's output) and
    `manifest.json` (seed, fractions, counts, sources, prompt version); returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "prompt_version": student_format().version, "split": spec.model_dump(),
        "sources": sorted(sources), "splits": {},
    }
    for name in SPLITS:
        rows = splits.get(name, [])
        path = out / f"{name}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for example in rows:
                record = {**example.model_dump(), "messages": example.messages()}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)
        manifest["splits"][name] = {"examples": len(rows),
                                    "documents": len({e.doc for e in rows})}
    leaked = ({e.doc for e in splits.get("train", [])}
              & {e.doc for e in splits.get("test", [])})
    if leaked:  # cannot happen with split_by_document; guards hand-made splits
        raise InputError(f"{len(leaked)} documents are in both train and test, e.g. "
                         f"{sorted(leaked)[0]!r}; split by document.")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_dataset(path: Path) -> list[Example]:
    """The examples of one split file written by `write_dataset`."""
    examples = []
    for line, record in read_jsonl(path):
        record.pop("messages", None)
        try:
            examples.append(Example.model_validate(record))
        except ValueError as e:
            raise InputError(f"{path}:{line}: not a kgx distillation example ({e}); rebuild "
                             f"it with `kgx distill data`.") from e
    return examples


def _strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list):
        raise InputError(f"{where} must be a list of strings.")
    return [str(v) for v in values if v is not None]
