"""PDF, HTML, DOCX, CSV and Parquet input, made by real writer libraries, on both stores."""

from __future__ import annotations

import json

import pytest

from kgx.formats import read_docx, read_html, read_pdf
from kgx.ingest import read_documents
from kgx.models import Document, Proposition, Provenance
from kgx.tabular import InputOptions
from kgx.testing import documents
from kgx.testing.cli import invoke


def test_formats_pdf_text_in_order_without_running_lines_and_with_pages(tmp_path):
    doc = read_pdf(documents.write_pdf(tmp_path / "pioneers.pdf"))
    assert doc.title == "Pioneers"
    assert documents.HEADER not in doc.text and "Page 2 of 3" not in doc.text
    assert "Analytical Engine in 1843" in doc.text and "radioactivity" in doc.text
    assert doc.text.index("Ada Lovelace") < doc.text.index("Marie Curie") < doc.text.index(
        "Alan Turing")
    assert [doc.page_at(doc.text.index(word)) for word in ("Ada", "polonium", "Enigma")] == [
        1, 2, 3]


def test_formats_pdf_keeps_lines_that_do_not_repeat(tmp_path):
    doc = read_pdf(documents.write_pdf(tmp_path / "one.pdf", pages=["Only page.\nA footer-ish "
                                                                    "line"], footer=False))
    assert doc.text == f"{documents.HEADER}\nOnly page.\nA footer-ish line"


@pytest.mark.parametrize(("writer", "reason"), [
    (documents.write_encrypted_pdf, "encrypted PDF (it needs a password): decrypt it first"),
    (documents.write_scanned_pdf, "no text layer in its 2 pages (scanned images?): run OCR"),
    (lambda p: p.write_bytes(b"%PDF-1.4\n1 0 obj <<garbage") and p, "corrupt PDF"),
])
def test_formats_unreadable_pdfs_are_skipped_naming_cause_and_fix(tmp_path, writer, reason):
    path = tmp_path / "bad.pdf"
    writer(path)
    result = read_documents([path])
    assert result.documents == []
    [skipped] = result.skipped
    assert skipped.source == str(path) and skipped.reason.startswith(reason)


def test_formats_html_main_text_only_and_title(tmp_path):
    doc = read_html(documents.write_html(tmp_path / "curie.html"))
    assert doc.title == "Marie Curie and polonium"
    assert "Marie Curie discovered polonium in Paris" in doc.text
    assert "MUST-NOT-APPEAR" not in doc.text
    assert read_html(documents.write_html(tmp_path / "h1.html", title=False)).title == (
        "The discovery of polonium")


def test_formats_docx_paragraphs_headings_and_table_rows_in_order(tmp_path):
    doc = read_docx(documents.write_docx(tmp_path / "pioneers.docx"))
    assert doc.title == "Pioneers of computing"
    assert doc.text.split("\n") == [
        "Pioneers of computing", "Early machines",
        "Charles Babbage designed the Analytical Engine in London.",
        "Person | City", "Ada Lovelace | London", "Alan Turing | Cambridge", "Codebreaking",
        "Alan Turing broke the Enigma code at Bletchley Park."]


def test_formats_csv_and_parquet_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"key": "a1", "headline": "Curie", "body": "Marie Curie discovered polonium."},
            {"key": "a2", "headline": "Empty", "body": "  "}]
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("key,headline,body\n" + "\n".join(
        f'{r["key"]},{r["headline"]},"{r["body"]}"' for r in rows) + "\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    options = InputOptions(text_column="body", id_column="key", title_column="headline")
    for path in (csv_path, tmp_path / "t.parquet"):
        result = read_documents([path], options=options)
        assert [(d.external_id, d.title, d.source) for d in result.documents] == [
            ("a1", "Curie", f"{path}:1")]
        assert [(s.source, s.reason[:15]) for s in result.skipped] == [
            (f"{path}:2", "empty or missin")]
    [skipped] = read_documents([csv_path]).skipped
    assert "no column 'text'" in skipped.reason and "--text-column" in skipped.reason


def test_formats_include_and_exclude_globs(tmp_path):
    (tmp_path / "docs" / "old").mkdir(parents=True)
    for name in ("a.txt", "b.md", "old/c.txt"):
        (tmp_path / "docs" / name).write_text(f"Text of {name}.", encoding="utf-8")
    read = read_documents([tmp_path / "docs"],
                          options=InputOptions(include=("*.txt",), exclude=("old/*",)))
    assert [d.title for d in read.documents] == ["a"]


def test_formats_pages_reach_relations_and_propositions(tmp_path):
    from kgx.batching import Work
    from kgx.chunking import chunk_document
    from kgx.pipeline import build_batch
    from kgx.resolution import EntityResolver

    doc = read_pdf(documents.write_pdf(tmp_path / "p.pdf"))

    class OneFactPerChunk:
        name = "test.pages.v1"

        def extract(self, chunks, run_id):
            from kgx.models import ChunkExtraction

            out = []
            for chunk in chunks:
                at = chunk.start + chunk.text.index("Marie Curie")
                where = Provenance(doc_id=chunk.doc_id, chunk_id=chunk.id, start=at,
                                   end=at + 11, extractor=self.name, extractor_version="1")
                out.append(ChunkExtraction(chunk_id=chunk.id, propositions=[
                    Proposition(text="Marie Curie discovered polonium.", provenance=where)]))
            return out

    def batch_of(document: Document):
        chunks = chunk_document(document, max_tokens=512)
        extractor = OneFactPerChunk()
        return build_batch([Work(document, chunks)], extractor.extract(chunks, "run_x"),
                           extractor, EntityResolver(), "run_x")

    assert [p.provenance.page for p in batch_of(doc).propositions] == [2]
    plain = batch_of(Document(text="Marie Curie was here."))
    assert [p.provenance.page for p in plain.propositions] == [None]


def test_formats_extract_pdf_html_docx_with_pages_found_by_query(runner, tmp_path,
                                                                  each_store_uri):
    folder = tmp_path / "docs"
    folder.mkdir()
    documents.write_pdf(folder / "pioneers.pdf")
    documents.write_html(folder / "curie.html")
    documents.write_docx(folder / "computing.docx")
    documents.write_scanned_pdf(folder / "scan.pdf")
    out = invoke(runner, "extract", str(folder), "--store", each_store_uri, "--max-tokens", "16")
    assert "3 documents written" in out and "no text layer" in out
    rows = _json_lines(invoke(
        runner, "query", "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE r.page IS NOT NULL "
        "RETURN s.name AS subject, r.predicate AS p, o.name AS object, r.page AS page "
        "ORDER BY page, subject, p, object", "--store", each_store_uri, "--format", "json"))
    assert {"subject": "Marie Curie", "p": "discover", "object": "polonium", "page": 2} in rows
    assert {row["page"] for row in rows} == {1, 2, 3}
    unpaged = _json_lines(invoke(
        runner, "query", "MATCH (d:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(e:Entity) "
        "WHERE d.title = $t RETURN DISTINCT e.name AS name ORDER BY name", "-p",
        "t=Pioneers of computing", "--store", each_store_uri, "--format", "json"))
    assert {"name": "Alan Turing"} in unpaged
    _explorer_cites_the_page(each_store_uri)
    _retrieval_cites_the_page(each_store_uri)


def _retrieval_cites_the_page(uri: str) -> None:
    """Retrieved chunks of a PDF carry the page they start on (kgx ask prints "p. 2")."""
    from kgx.graphdb import open_store
    from kgx.retrieval import make_retriever

    with open_store(uri) as store:
        hits = make_retriever("bm25", store, cache=False).retrieve("polonium", top_k=10)
    pages = {(hit.title, hit.page) for hit in hits if "Curie discovered polonium" in hit.text}
    assert ("Pioneers", 2) in pages and ("Marie Curie and polonium", None) in pages


def _explorer_cites_the_page(uri: str) -> None:
    """The explorer's API (kgx serve) carries the page in a PDF fact's provenance."""
    from kgx.graphdb import open_store
    from kgx.serve.graph import GraphService

    with open_store(uri) as store:
        service = GraphService(store)
        curie = service.entity_by_name("Marie Curie")
        facts = service.entity(curie.id).facts
    assert {(f.predicate, f.object.name, f.provenance.page) for f in facts} >= {
        ("discover", "polonium", 2)}


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]
