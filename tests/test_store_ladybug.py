"""The embedded LadybugDB store: the shared contract plus what is specific to it."""

from __future__ import annotations

import pytest

from kgx.errors import ReadOnlyQueryError, StoreError
from kgx.graphdb import open_store
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.testing.graphs import ada_batch
from kgx.testing.store_contract import EXPECTED_COUNTS, GraphStoreContract


class TestLadybugStore(GraphStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        with LadybugStore(tmp_path / "store") as store:
            yield store


def test_ladybug_store_persists_across_reopen(tmp_path):
    with LadybugStore(tmp_path / "g") as store:
        store.upsert(ada_batch())
    with LadybugStore(tmp_path / "g", read_only=True) as store:
        assert store.counts() == EXPECTED_COUNTS


def test_ladybug_store_read_only_open_refuses_writes(tmp_path):
    with LadybugStore(tmp_path / "g") as store:
        store.upsert(ada_batch())
    with LadybugStore(tmp_path / "g", read_only=True) as store, \
            pytest.raises(ReadOnlyQueryError):
        store.query("MATCH (e:Entity) SET e.name = 'x'", write=True)


def test_ladybug_store_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="kgx extract"):
        LadybugStore(tmp_path / "nothing", read_only=True).connect()


def test_ladybug_store_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        LadybugStore(tmp_path / "f").connect()


def test_ladybug_store_open_store_picks_backend(tmp_path):
    assert isinstance(open_store(str(tmp_path / "g")), LadybugStore)
    assert type(open_store("bolt://127.0.0.1:1")).__name__ == "Neo4jStore"


def test_ladybug_store_upgrades_a_store_made_before_llm_usage(tmp_path):
    import ladybug

    from kgx.graphdb import RunRecord
    from kgx.graphdb.ladybug_store import DB_FILE

    (tmp_path / "old").mkdir()
    db = ladybug.Database(str(tmp_path / "old" / DB_FILE))
    old = ladybug.Connection(db)
    old.execute("CREATE NODE TABLE Run(id STRING, extractor STRING, status STRING, "
                "started_at STRING, finished_at STRING, config STRING, documents INT64, "
                "PRIMARY KEY(id))")
    old.execute("CREATE (:Run {id: 'r1', extractor: 'spacy', status: 'complete', "
                "started_at: '2026-01-01', config: '{}', documents: 3})")
    old.close()
    db.close()
    with LadybugStore(tmp_path / "old") as store:
        [before] = store.runs()
        assert (before.documents, before.llm_usage) == (3, None)
        store.save_run(RunRecord(id="r2", extractor="spacy", status="running",
                                 started_at="2026-02-01", llm_usage='{"llm_calls": 1}'))
        assert store.runs()[0].llm_usage == '{"llm_calls": 1}'
