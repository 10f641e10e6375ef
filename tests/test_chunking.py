"""Tests for kgx.chunking: sentence splitting, token budgets, and exact character offsets."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from kgx.chunking import approximate_token_count, chunk_document, split_sentences
from kgx.errors import ConfigError
from kgx.models import Document

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "multihop_50.jsonl"


def _sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def _assert_exact_and_complete(doc: Document, chunks, max_tokens: int) -> None:
    """Exact slices, in order, without overlap, within budget and counted right; no text lost."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.doc_id == doc.id
        assert 0 < chunk.n_tokens <= max_tokens
        assert chunk.n_tokens == approximate_token_count(chunk.text)
    for before, after in itertools.pairwise(chunks):
        assert before.end <= after.start
        assert not doc.text[before.end:after.start].strip()
    assert re.sub(r"\s", "", "".join(c.text for c in chunks)) == re.sub(r"\s", "", doc.text)


def test_chunking_splits_sentences_but_not_abbreviations():
    text = ("Dr. Smith moved to the U.S. in 1990. J. R. R. Tolkien wrote books, e.g. The Hobbit. "
            "Mr. and Mrs. Jones arrived at 5 p.m. on Monday! Did they? Yes.")

    assert _sentences(text) == [
        "Dr. Smith moved to the U.S. in 1990.",
        "J. R. R. Tolkien wrote books, e.g. The Hobbit.",
        "Mr. and Mrs. Jones arrived at 5 p.m. on Monday!",
        "Did they?",
        "Yes.",
    ]


def test_chunking_splits_after_closing_quotes_and_brackets():
    text = 'He said "Go home." Then he left (for good.) After that, silence.'

    assert _sentences(text) == ['He said "Go home."', "Then he left (for good.)",
                                "After that, silence."]


def test_chunking_breaks_at_blank_lines_and_markdown_structure():
    text = "# Title\nFirst line without stop\n\nSecond paragraph\n- item one\n- item two\n1. First"

    assert _sentences(text) == ["# Title", "First line without stop", "Second paragraph",
                                "- item one", "- item two", "1. First"]


def test_chunking_approximates_llm_token_counts():
    assert approximate_token_count("Hello, world!") == 4
    assert approximate_token_count("In 1962 she won 12,500 dollars.") == 10
    assert approximate_token_count("internationalisation") == 3
    assert approximate_token_count("   ") == 0


def test_chunking_packs_whole_sentences_within_the_budget():
    doc = Document(text="One two three. Four five six. Seven eight nine. Ten.")

    chunks = chunk_document(doc, max_tokens=8)

    assert [c.text for c in chunks] == ["One two three. Four five six.", "Seven eight nine. Ten."]
    assert [c.n_tokens for c in chunks] == [8, 6]
    _assert_exact_and_complete(doc, chunks, 8)


def test_chunking_cuts_an_overlong_sentence_between_words():
    doc = Document(text="Short one. " + " ".join(f"Word{i}" for i in range(30)) + ". Tail.")

    chunks = chunk_document(doc, max_tokens=10)

    _assert_exact_and_complete(doc, chunks, 10)
    assert chunks[0].text == "Short one."
    assert all(doc.text[c.end].isspace() for c in chunks[:-1])
    assert chunks[-1].text.endswith("Tail.")


def test_chunking_cuts_a_word_longer_than_the_budget():
    doc = Document(text="A " + "x" * 100 + " b.")

    chunks = chunk_document(doc, max_tokens=4)

    _assert_exact_and_complete(doc, chunks, 4)
    assert len(chunks) > 3


def test_chunking_uses_a_custom_token_counter():
    doc = Document(text="Alpha beta. Gamma delta epsilon. Zeta.")
    calls = []

    def count_words(text: str) -> int:
        calls.append(text)
        return len(text.split())

    chunks = chunk_document(doc, max_tokens=3, count_tokens=count_words)

    assert [c.text for c in chunks] == ["Alpha beta.", "Gamma delta epsilon.", "Zeta."]
    assert [c.n_tokens for c in chunks] == [2, 3, 1]
    assert calls


def test_chunking_recounts_joined_text_for_a_custom_counter():
    doc = Document(text="Aa. Bb.")

    def count_with_join_cost(text: str) -> int:  # joining adds a token, as some BPEs do
        return len(text.split()) + text.count(" ")

    chunks = chunk_document(doc, max_tokens=2, count_tokens=count_with_join_cost)

    assert [c.text for c in chunks] == ["Aa.", "Bb."]


def test_chunking_rejects_a_budget_below_one():
    with pytest.raises(ConfigError, match="max_tokens must be at least 1"):
        chunk_document(Document(text="Hi."), max_tokens=0)


def test_chunking_ids_are_stable_and_offsets_skip_leading_space():
    doc = Document(text="\n\n  First sentence here.   Second one.  \n")

    first, again = chunk_document(doc, max_tokens=4), chunk_document(doc, max_tokens=4)

    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first) == 2
    assert first[0].start == 4
    _assert_exact_and_complete(doc, first, 4)


def test_chunking_offsets_are_exact_on_the_multihop_fixture():
    records = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]

    for record in records:
        doc = Document(text=record["text"], title=record["title"], external_id=record["id"])
        for budget in (256, 32):
            _assert_exact_and_complete(doc, chunk_document(doc, max_tokens=budget), budget)
