"""`kgx delete` and `kgx sync` on the embedded store (both stores run the lifecycle contract)."""

from __future__ import annotations

import pytest

from kgx.errors import InputError
from kgx.graphdb import open_store
from kgx.lifecycle import source_within
from kgx.testing import corpora
from kgx.testing.cli import fails, invoke


@pytest.fixture
def extracted(tmp_path):
    folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
    uri = str(tmp_path / "store")
    with open_store(uri) as store:
        corpora.extract(store, folder)
    return folder, uri


def test_lifecycle_cli_delete_by_source_and_unknown_ids(runner, extracted):
    folder, uri = extracted
    out = invoke(runner, "delete", "doc_nope", "--source", str(folder / "b.txt"), "--store", uri)
    assert "deleted 1 documents" in out and "not in the store (skipped): doc_nope" in out
    with open_store(uri) as store:
        assert sorted(d.source.rsplit("/", 1)[1] for d in store.documents()) == ["a.txt", "c.txt"]
        [run] = [r for r in store.runs() if r.extractor == "kgx.delete"]
        assert (run.status, run.deleted) == ("complete", 1)


def test_lifecycle_cli_delete_needs_something_to_delete(runner, tmp_path):
    assert isinstance(fails(runner, "delete", "--store", str(tmp_path / "s")), InputError)


def test_lifecycle_cli_sync_dry_run_prints_the_plan_and_changes_nothing(runner, extracted):
    folder, uri = extracted
    corpora.write_corpus(folder, corpora.ADDED)
    (folder / "c.txt").unlink()
    with open_store(uri) as store:
        before = corpora.snapshot(store)
    out = invoke(runner, "sync", str(folder), "--store", uri, "--dry-run")
    assert "plan: 1 added, 0 changed, 1 removed, 2 unchanged" in out
    assert f"delete: {folder / 'c.txt'}" in out
    with open_store(uri) as store:
        assert corpora.snapshot(store) == before


def test_lifecycle_cli_sync_keeps_documents_of_unreadable_files(runner, extracted):
    folder, uri = extracted
    (folder / "c.txt").write_bytes(b"\xff\xfe broken")
    out = invoke(runner, "sync", str(folder), "--store", uri)
    assert "1 kept (unreadable now)" in out
    with open_store(uri) as store:
        assert any(d.source.endswith("c.txt") for d in store.documents())


def test_lifecycle_source_within_matches_files_records_and_folders():
    assert source_within("docs/a.txt", "docs")
    assert source_within("docs/a.txt", "docs/")
    assert source_within("docs/x.jsonl:12", "docs/x.jsonl")
    assert not source_within("docs2/a.txt", "docs")
    assert not source_within("docs/x.jsonl:12", "docs/x.json")


def test_lifecycle_changed_jsonl_record_is_replaced_by_its_id(tmp_path):
    import json

    corpus = tmp_path / "c.jsonl"
    records = [{"id": "r1", "title": "Curie", "text": "Marie Curie discovered polonium."},
               {"id": "r2", "title": "Turing", "text": "Alan Turing studied at Cambridge."}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with open_store(str(tmp_path / "store")) as store:
        corpora.extract(store, corpus)
        records[1]["text"] = "Alan Turing broke the Enigma code."
        corpus.write_text("".join(json.dumps(r) + "\n" for r in records[::-1]),
                          encoding="utf-8")  # moved to another line: the id still finds it
        report = corpora.extract(store, corpus)
        assert (report.documents_written, report.documents_replaced) == (1, 1)
        texts = store.query("MATCH (d:Document) RETURN d.external_id, d.text "
                            "ORDER BY d.external_id").rows
        assert texts == [["r1", records[0]["text"]], ["r2", records[1]["text"]]]
        assert "Cambridge" not in {e.name for e in store.entities()}


def test_lifecycle_changed_file_is_found_under_another_spelling_of_its_path(tmp_path,
                                                                           monkeypatch):
    from pathlib import Path

    folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
    monkeypatch.chdir(tmp_path)
    with open_store(str(tmp_path / "store")) as store:
        corpora.extract(store, Path("docs"))
        corpora.write_corpus(folder, corpora.EDITED)
        report = corpora.extract(store, folder.resolve())
        assert (report.documents_written, report.documents_replaced) == (1, 1)
        assert store.counts()["Document"] == 3


def test_lifecycle_cli_dry_run_and_delete_create_no_store(runner, tmp_path):
    from kgx.errors import StoreError

    folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
    out = invoke(runner, "sync", str(folder), "--store", str(tmp_path / "new"), "--dry-run")
    assert "plan: 3 added, 0 changed, 0 removed, 0 unchanged" in out
    assert isinstance(fails(runner, "delete", "doc_x", "--store", str(tmp_path / "new")),
                      StoreError)
    assert not (tmp_path / "new").exists()
