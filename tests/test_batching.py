"""When the pipeline writes: batches close after N documents or T seconds, per extractor kind."""

from __future__ import annotations

import pytest

from kgx import batching
from kgx.batching import CommitPolicy, Work, chunks_per_call, close_batches, commit_policy
from kgx.models import Chunk, ChunkExtraction, Document


def _work(n: int, chunks_each: int = 1) -> list[Work]:
    items = []
    for i in range(n):
        doc = Document(id=f"d{i}", text="x " * 10 * chunks_each)
        chunks = [Chunk(doc_id=doc.id, index=j, text=f"chunk {i}.{j}", start=j, end=j + 1,
                        n_tokens=2) for j in range(chunks_each)]
        items.append(Work(doc, chunks))
    return items


class _Extract:
    """Records each call's chunk count; each call takes `seconds` on a fake clock."""

    def __init__(self, clock: list[float] | None = None, seconds: float = 0.0) -> None:
        self.calls: list[int] = []
        self.clock, self.seconds = clock, seconds

    def __call__(self, chunks):
        self.calls.append(len(chunks))
        if self.clock is not None:
            self.clock[0] += self.seconds
        return [ChunkExtraction(chunk_id=c.id) for c in chunks]


def _sizes(batches) -> list[int]:
    return [len(items) for items, _ in batches]


def test_batching_closes_after_n_documents_one_call_per_group():
    extract = _Extract()
    batches = list(close_batches(_work(7), CommitPolicy(3, None, 2), extract))
    assert _sizes(batches) == [3, 3, 1]
    assert extract.calls == [2, 1, 2, 1, 1]  # calls never cross a batch boundary
    assert all(len(found) == len(items) for items, found in batches)


def test_batching_closes_after_t_seconds(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(batching.time, "monotonic", lambda: clock[0])
    extract = _Extract(clock, seconds=25.0)
    batches = list(close_batches(_work(8), CommitPolicy(16, 60.0, 1), extract))
    assert _sizes(batches) == [3, 3, 2]  # 75 s > 60 s after the third document


def test_batching_keeps_whole_documents_per_call():
    extract = _Extract()
    batches = list(close_batches(_work(3, chunks_each=3), CommitPolicy(16, None, 4), extract))
    assert _sizes(batches) == [3] and extract.calls == [6, 3]


def test_batching_bulk_extractor_gets_whole_batch_in_one_call():
    class Bulk:
        name = "bulk.v1"

    policy = commit_policy(Bulk())
    assert policy == CommitPolicy(128, None, None)
    extract = _Extract()
    assert _sizes(close_batches(_work(130), policy, extract)) == [128, 2]
    assert extract.calls == [128, 2]


@pytest.mark.parametrize(("backend", "expected"), [
    (type("Transformers", (), {"batch_size": 8})(), 8),
    (type("Http", (), {"concurrency": 4})(), 4),
    (type("LlamaCpp", (), {})(), 1),
])
def test_batching_llm_extractor_defaults(backend, expected):
    class Managed:
        pass

    llm = Managed()
    llm.backend = backend
    extractor = type("LLMExtractor", (), {"llm": llm})()
    assert chunks_per_call(llm) == expected
    assert commit_policy(extractor) == CommitPolicy(16, 60.0, expected)
    assert commit_policy(extractor, documents=2, seconds=5.0) == CommitPolicy(2, 5.0, expected)


def test_batching_rejects_extractor_returning_wrong_count():
    with pytest.raises(Exception, match="one per chunk"):
        list(close_batches(_work(2), CommitPolicy(2, None, None), lambda chunks: []))
