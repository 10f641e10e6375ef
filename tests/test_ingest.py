"""Tests for kgx.ingest: reading files and folders, and reporting every input it skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgx.ingest import Skipped, iter_documents, read_documents

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "corpus"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "multihop_50.jsonl"


def _write_jsonl(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _only_skip(result) -> Skipped:
    assert len(result.skipped) == 1, result.skipped
    return result.skipped[0]


def test_ingest_reads_all_three_formats_from_a_folder_in_sorted_order(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\nMarkdown text.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("Plain text.", encoding="utf-8")
    _write_jsonl(tmp_path / "a.jsonl", json.dumps({"id": "p1", "title": "T", "text": "One."}))

    result = read_documents([tmp_path])

    assert result.skipped == []
    assert [d.source for d in result.documents] == [
        f"{tmp_path / 'a.jsonl'}:1", str(tmp_path / "b.md"), str(tmp_path / "sub" / "c.txt")]
    assert [d.title for d in result.documents] == ["T", "b", "c"]
    assert result.documents[1].text == "# B\n\nMarkdown text."


def test_ingest_jsonl_record_maps_id_title_and_line_source(tmp_path):
    path = _write_jsonl(tmp_path / "corpus.jsonl",
                        json.dumps({"id": "x-1", "title": "First", "text": "Alpha."}),
                        json.dumps({"id": 7, "text": "Beta."}))

    first, second = read_documents([path]).documents

    assert (first.external_id, first.title, first.text) == ("x-1", "First", "Alpha.")
    assert (second.external_id, second.title, second.source) == ("7", "", f"{path}:2")
    assert first.id != second.id


def test_ingest_accepts_content_and_topic_aliases(tmp_path):
    path = _write_jsonl(tmp_path / "mine.jsonl", json.dumps({"topic": "Bees", "content": "Bees."}))

    [doc] = read_documents([path]).documents

    assert (doc.title, doc.text) == ("Bees", "Bees.")


def test_ingest_reports_unsupported_extension_and_goes_on(tmp_path):
    (tmp_path / "slides.pptx").write_bytes(b"PK\x03\x04")
    (tmp_path / "note.txt").write_text("Kept.", encoding="utf-8")

    result = read_documents([tmp_path])

    assert [d.text for d in result.documents] == ["Kept."]
    skipped = _only_skip(result)
    assert skipped.source == str(tmp_path / "slides.pptx")
    assert skipped.reason == ("unsupported extension .pptx; kgx reads .txt, .md, .jsonl, .pdf, "
                              ".html, .htm, .docx, .csv, .parquet")


def test_ingest_reports_missing_path(tmp_path):
    skipped = _only_skip(read_documents([tmp_path / "nope.txt"]))

    assert "no such file or folder" in skipped.reason


@pytest.mark.parametrize("content", [b"", b"  \n\t \n"])
def test_ingest_reports_empty_file(tmp_path, content):
    (tmp_path / "empty.txt").write_bytes(content)

    assert "empty file" in _only_skip(read_documents([tmp_path])).reason


def test_ingest_reports_binary_file_with_nul_offset(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"abc\x00def")

    assert "NUL byte at byte offset 3" in _only_skip(read_documents([tmp_path])).reason


def test_ingest_reports_invalid_utf8_with_byte_offset(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))

    reason = _only_skip(read_documents([tmp_path])).reason

    assert "not valid UTF-8 at byte offset 3" in reason
    assert "re-encode" in reason


def test_ingest_invalid_utf8_offset_in_jsonl_counts_from_file_start(tmp_path):
    path = tmp_path / "c.jsonl"
    good, bad = b'{"text": "ok"}\n', b'{"text": "caf\xe9"}\n'
    path.write_bytes(good + bad)

    result = read_documents([path])

    skipped = _only_skip(result)
    assert skipped.source == f"{path}:2"
    offset = len(good) + bad.index(b"\xe9")
    assert f"byte offset {offset}" in skipped.reason
    assert [d.text for d in result.documents] == ["ok"]


def test_ingest_drops_utf8_bom(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello.")

    assert read_documents([tmp_path]).documents[0].text == "Hello."


def test_ingest_reports_oversized_file_without_reading_it(tmp_path, monkeypatch):
    (tmp_path / "big.txt").write_text("x" * 101, encoding="utf-8")

    def refuse(self):
        raise AssertionError(f"read {self} whole")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    reason = _only_skip(read_documents([tmp_path], max_bytes=100)).reason

    assert "101 bytes is over the limit of 100 bytes" in reason


def test_ingest_reports_oversized_jsonl_record_and_reads_the_next(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", json.dumps({"text": "y" * 300}),
                        json.dumps({"text": "small"}))

    result = read_documents([path], max_bytes=100)

    skipped = _only_skip(result)
    assert skipped.source == f"{path}:1"
    assert "over the limit of 100 bytes" in skipped.reason
    assert [(d.text, d.source) for d in result.documents] == [("small", f"{path}:2")]


def test_ingest_reports_malformed_json_line_with_location(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", '{"text": "a"}', '{"text": "b",}', '{"text": "c"}')

    result = read_documents([path])

    skipped = _only_skip(result)
    assert skipped.source == f"{path}:2"
    assert skipped.reason.startswith("malformed JSON: ")
    assert "column" in skipped.reason
    assert [d.text for d in result.documents] == ["a", "c"]


def test_ingest_reports_record_without_text_naming_the_field(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", json.dumps({"id": "1", "body": "words"}))

    reason = _only_skip(read_documents([path])).reason

    assert 'no "text" field; add "text"' in reason
    assert "body, id" in reason


@pytest.mark.parametrize(("line", "expected"), [
    ('{"text": "   "}', "empty record"),
    ('{"text": 5}', '"text" must be a string'),
    ('["text"]', "expected a JSON object"),
])
def test_ingest_reports_unusable_records(tmp_path, line, expected):
    path = _write_jsonl(tmp_path / "c.jsonl", line)

    assert expected in _only_skip(read_documents([path])).reason


def test_ingest_blank_jsonl_lines_are_not_records(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", "", json.dumps({"text": "a"}), "   ", "")

    result = read_documents([path])

    assert result.skipped == []
    assert [d.source for d in result.documents] == [f"{path}:2"]


def test_ingest_reports_jsonl_file_with_no_records(tmp_path):
    (tmp_path / "c.jsonl").write_text("\n\n", encoding="utf-8")

    assert "no JSON records" in _only_skip(read_documents([tmp_path])).reason


def test_ingest_reports_a_path_listed_twice(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Once.", encoding="utf-8")

    result = read_documents([path, tmp_path])

    assert len(result.documents) == 1
    assert "listed twice" in _only_skip(result).reason


def test_ingest_iter_documents_yields_lazily(tmp_path):
    lines = [json.dumps({"text": f"Doc {i}."}) for i in range(3)]
    path = _write_jsonl(tmp_path / "c.jsonl", *lines)

    stream = iter_documents([path])

    assert next(stream).text == "Doc 0."
    assert [d.text for d in stream] == ["Doc 1.", "Doc 2."]


def test_ingest_reads_the_bundled_sample_corpus():
    result = read_documents([SAMPLES])

    assert result.skipped == []
    suffixes = {Path(d.source.rsplit(":", 1)[0]).suffix for d in result.documents}
    assert suffixes == {".jsonl", ".md", ".txt"}
    assert len(result.documents) >= 60


def test_ingest_reads_the_multihop_fixture():
    result = read_documents([FIXTURE])

    assert result.skipped == []
    assert len(result.documents) == 50
    assert result.documents[0].external_id == "2wikimultihopqa-p00000"
    assert result.documents[0].title == "John De Margheriti"
