"""Deleting, replacing and syncing documents: part of the contract every `GraphStore` passes.

Pipeline tests extract small real corpora with spaCy; the kill tests SIGKILL a real `kgx`
subprocess mid-way and run it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kgx.models import Chunk, Document, GraphBatch
from kgx.testing import corpora
from kgx.testing.graphs import EXTRACTOR, ada_batch, ada_batches


class DocumentLifecycleContract:
    """Deleting, replacing and syncing documents, on the real database."""

    def test_store_delete_round_trip_equals_never_added(self, store):
        only_a, both = ada_batches()
        store.upsert(only_a)
        expected = corpora.snapshot(store)
        corpora.clear(store)
        store.upsert(both)
        deleted = store.delete_documents([both.documents[1].id])
        assert (deleted.chunks, deleted.relations, deleted.entities, deleted.aliases) == (
            1, 1, 1, 2)
        assert corpora.snapshot(store) == expected

    def test_store_delete_unknown_ids_are_reported_and_repeat_safely(self, store):
        batch = ada_batch()
        store.upsert(batch)
        doc = batch.documents[1].id
        first = store.delete_documents(["doc_unknown", doc])
        assert (first.documents, first.unknown) == ([doc], ["doc_unknown"])
        after = corpora.snapshot(store)
        again = store.delete_documents([doc])
        assert (again.documents, again.unknown) == ([], [doc])
        assert corpora.snapshot(store) == after

    def test_store_delete_keeps_knowledge_base_entries(self, store):
        batch = ada_batch()
        store.upsert(batch)
        engine = batch.entities[2]  # only the deleted Babbage document mentions it
        store.query("CREATE (:KnowledgeEntry {id: 'kb1', problem: 'p', knowledge: 'k'})",
                    write=True)
        store.query("MATCH (k:KnowledgeEntry {id: 'kb1'}), (e:Entity {id: $e}) "
                    "CREATE (k)-[:KB_ABOUT]->(e)", {"e": engine.id}, write=True)
        store.delete_documents([batch.documents[1].id])
        rows = store.query("MATCH (k:KnowledgeEntry)-[:KB_ABOUT]->(e:Entity) "
                           "RETURN k.id, k.knowledge, e.name").rows
        assert rows == [["kb1", "k", "Analytical Engine"]]

    def test_store_replace_leaves_no_fact_of_the_old_version(self, store):
        batch = ada_batch()
        store.upsert(batch)
        old = batch.documents[1]
        new = Document(title=old.title, source=old.source, external_id=old.external_id,
                       text="Charles Babbage built the Difference Engine.")
        chunk = Chunk(doc_id=new.id, index=0, text=new.text, start=0, end=len(new.text),
                      n_tokens=6)
        store.upsert(GraphBatch(documents=[new], chunks=[chunk], replaces=[old.id],
                                completed_key=EXTRACTOR, completed=[new.id]))
        left = store.query("MATCH (n) WHERE n.doc_id = $d OR n.id = $d RETURN count(n)",
                           {"d": old.id}).scalar()
        facts = store.query("MATCH ()-[r:RELATION]->() WHERE r.doc_id = $d RETURN count(r)",
                            {"d": old.id}).scalar()
        assert (left, facts) == (0, 0)
        names = {e.name for e in store.entities()}
        assert "Analytical Engine" not in names
        assert store.completed_documents(EXTRACTOR) == {batch.documents[0].id, new.id}

    def test_store_extract_then_delete_equals_extract_of_the_rest(self, store, tmp_path):
        folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
        corpora.extract(store, folder / "a.txt", folder / "c.txt")
        expected = corpora.snapshot(store)
        corpora.clear(store)
        corpora.extract(store, folder)
        [b] = [d.id for d in store.documents() if d.source.endswith("b.txt")]
        aliases = store.query("MATCH (e:Entity {name: 'Ada Lovelace'}) RETURN e.aliases").scalar()
        assert "Lovelace" in aliases
        store.delete_documents([b])
        assert corpora.snapshot(store) == expected

    def test_store_changed_document_replaces_its_old_version(self, store, tmp_path):
        folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
        corpora.extract(store, folder)
        [old] = [d for d in store.documents() if d.source.endswith("b.txt")]
        corpora.write_corpus(folder, corpora.EDITED)
        report = corpora.extract(store, folder)
        assert (report.documents_written, report.documents_replaced) == (1, 1)
        assert old.id not in {d.id for d in store.documents()}
        [new] = [d for d in store.documents() if d.source.endswith("b.txt")]
        assert new.run_id == report.run_id
        stale = store.query("MATCH ()-[r:RELATION]->() WHERE r.doc_id = $d RETURN count(r)",
                            {"d": old.id}).scalar()
        assert stale == 0
        assert "Analytical Engine" not in {e.name for e in store.entities()}
        run = next(r for r in store.runs() if r.id == report.run_id)
        assert (run.added, run.replaced, run.deleted) == (0, 1, 0)

    def test_store_sync_equals_a_fresh_extract(self, store, tmp_path):
        from kgx.pipeline import ExtractConfig
        from kgx.sync import plan_sync, sync_folder

        folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
        corpora.extract(store, folder)
        corpora.write_corpus(folder, {**corpora.ADDED, **corpora.EDITED})
        (folder / "c.txt").unlink()
        name = corpora.spacy_extractor().name
        plan = plan_sync(store, folder, ExtractConfig(), name)
        assert ([Path(p).name for p in plan.added], [Path(p).name for p in plan.changed],
                [Path(p).name for p in plan.removed], plan.unchanged) == (
            ["d.txt"], ["b.txt"], ["c.txt"], 1)
        report = sync_folder(store, folder, ExtractConfig(), extractor=corpora.spacy_extractor())
        run = next(r for r in store.runs() if r.id == report.extracted.run_id)
        assert (run.added, run.replaced, run.deleted) == (1, 1, 1)
        synced = corpora.snapshot(store)
        corpora.clear(store)
        corpora.extract(store, folder)
        assert synced == corpora.snapshot(store)
        assert plan_sync(store, folder, ExtractConfig(), name).summary().startswith(
            "0 added, 0 changed, 0 removed, 3 unchanged")

    @pytest.mark.slow  # kills and reruns `kgx` subprocesses
    def test_store_delete_killed_then_rerun_finishes_the_job(self, store, tmp_path):
        from kgx.lifecycle import delete_documents

        corpus = corpora.MULTIHOP_50
        corpora.extract(store, corpus)
        ids = sorted(d.id for d in store.documents())[:30]
        delete_documents(store, ids)
        expected = corpora.snapshot(store)
        corpora.clear(store)
        corpora.extract(store, corpus)
        store.close()
        args = ["delete", *ids, "--store", store.uri, "--batch-size", "1", "-v"]
        corpora.kill_after(args, "deleted batch", 3)
        corpora.run_kgx(*args)
        store.connect()
        assert corpora.snapshot(store) == expected

    @pytest.mark.slow  # kills and reruns `kgx` subprocesses
    def test_store_sync_killed_then_rerun_equals_a_fresh_extract(self, store, tmp_path):
        folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
        corpora.extract(store, folder)
        corpora.write_corpus(folder, {**corpora.passages(20), **corpora.EDITED})
        (folder / "c.txt").unlink()
        store.close()
        args = ["sync", str(folder), "--store", store.uri, "--batch-documents", "1", "-v"]
        corpora.kill_after(args, "committed", 3)
        corpora.run_kgx(*args)
        store.connect()
        synced = corpora.snapshot(store)
        corpora.clear(store)
        corpora.extract(store, folder)
        assert synced == corpora.snapshot(store)

    @pytest.mark.parametrize("retriever", ["dense", "bm25", "graph", "ppr", "hipporag2"])
    def test_store_retrieval_after_delete_never_returns_a_deleted_chunk(self, store, tmp_path,
                                                                       retriever):
        from kgx.retrieval import make_retriever

        folder = corpora.write_corpus(tmp_path / "docs", corpora.PEOPLE)
        corpora.extract(store, folder)
        question = "Who designed the Analytical Engine with Charles Babbage in London?"
        before = make_retriever(retriever, store).retrieve(question, top_k=3)
        [b] = [d.id for d in store.documents() if d.source.endswith("b.txt")]
        assert b in {hit.doc_id for hit in before}, "the question should find b.txt first"
        store.delete_documents([b])
        after = make_retriever(retriever, store).retrieve(question, top_k=3)
        assert after and b not in {hit.doc_id for hit in after}

    def test_store_page_provenance_on_relations_and_propositions(self, store):
        batch = ada_batch()
        paged = batch.model_copy(update={
            "relations": [r.model_copy(update={"provenance": r.provenance.model_copy(
                update={"page": 4})}) for r in batch.relations],
            "propositions": [p.model_copy(update={"provenance": p.provenance.model_copy(
                update={"page": 2})}) for p in batch.propositions]})
        store.upsert(paged)
        pages = store.query("MATCH ()-[r:RELATION]->() RETURN DISTINCT r.page AS page").rows
        assert pages == [[4]]
        assert store.query("MATCH (p:Proposition) RETURN p.page").rows == [[2]]
