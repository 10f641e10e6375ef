"""Pipeline orchestration with a fake extractor on the real embedded store."""

from __future__ import annotations

import json

import pytest

from kgx.errors import ExtractionError
from kgx.export import export_graph
from kgx.graphdb.ladybug_store import LadybugStore
from kgx.pipeline import ExtractConfig, extract_corpus
from kgx.testing.fakes import GazetteerExtractor

NAMES = {"Ada Lovelace": "PERSON", "Lovelace": "PERSON", "Charles Babbage": "PERSON",
         "Analytical Engine": "PRODUCT", "London": "GPE"}


def _corpus(tmp_path, n: int = 12):
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"Ada Lovelace met Charles Babbage in London "
                         f"in year {1830 + i}. Lovelace wrote about the Analytical Engine."})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _config() -> ExtractConfig:
    return ExtractConfig(extractor="test.gazetteer.v1", batch_documents=3)


def _export(store, path):
    export_graph(store, "jsonl", path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record.pop("run_id", None)
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def test_pipeline_crash_mid_corpus_leaves_consistent_store_and_resumes(tmp_path):
    corpus = _corpus(tmp_path)
    with LadybugStore(tmp_path / "crashed") as store:
        with pytest.raises(ExtractionError):
            extract_corpus([corpus], store, _config(),
                           extractor=GazetteerExtractor(NAMES, fail_on_call=3))
        assert store.counts()["Document"] == 6  # two whole batches, nothing of the third
        report = extract_corpus([corpus], store, _config(), resume=True,
                                extractor=GazetteerExtractor(NAMES))
        assert (report.documents_already_done, report.documents_written) == (6, 6)
        crashed = _export(store, tmp_path / "a.jsonl")
    with LadybugStore(tmp_path / "clean") as store:
        extract_corpus([corpus], store, _config(), extractor=GazetteerExtractor(NAMES))
        assert _export(store, tmp_path / "b.jsonl") == crashed


def test_pipeline_resolves_entities_across_runs(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Ada Lovelace met Charles Babbage.")
    second.write_text("Lovelace described the Analytical Engine.")
    with LadybugStore(tmp_path / "g") as store:
        extract_corpus([first], store, _config(), extractor=GazetteerExtractor(NAMES))
        extract_corpus([second], store, _config(), extractor=GazetteerExtractor(NAMES))
        rows = store.query("MATCH (e:Entity {type: 'PERSON'}) RETURN e.name, e.aliases "
                           "ORDER BY e.name").rows
    assert rows == [["Ada Lovelace", ["Lovelace"]], ["Charles Babbage", []]]


def test_pipeline_report_lists_skipped_inputs(tmp_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Ada Lovelace met Charles Babbage.")
    (corpus / "empty.md").write_text("")
    (corpus / "paper.pdf").write_bytes(b"%PDF")
    with LadybugStore(tmp_path / "g") as store:
        report = extract_corpus([corpus], store, _config(),
                                extractor=GazetteerExtractor(NAMES))
    assert report.documents_written == 1
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.md", "paper.pdf"}
    assert reasons["paper.pdf"].startswith("corrupt PDF")


def test_pipeline_rejects_extractor_returning_wrong_count(tmp_path):
    class Broken(GazetteerExtractor):
        def extract(self, chunks, run_id):
            return super().extract(chunks, run_id)[:-1]

    (tmp_path / "ok.txt").write_text("Ada Lovelace met Charles Babbage.")
    with LadybugStore(tmp_path / "g") as store, pytest.raises(Exception, match="one per chunk"):
        extract_corpus([tmp_path / "ok.txt"], store, _config(), extractor=Broken(NAMES))


class _LLMGazetteer(GazetteerExtractor):
    """The gazetteer, plus one LLM call per chunk, as an LLM extractor would make."""

    def __init__(self, names, llm, **kwargs) -> None:
        super().__init__(names, **kwargs)
        self.llm = llm

    def extract(self, chunks, run_id):
        from kgx.llm.types import LLMRequest

        self.llm.generate([LLMRequest.from_prompt(chunk.text, key=chunk.id) for chunk in chunks])
        return super().extract(chunks, run_id)


def test_pipeline_stores_llm_usage_with_the_run_summed_over_resumes(tmp_path):
    from kgx.llm.managed import ManagedLLM
    from kgx.testing.fake_llm import FakeLLM

    corpus = _corpus(tmp_path, n=6)
    fake = FakeLLM(["ok"] * 9)
    with LadybugStore(tmp_path / "g") as store:
        crashing = _LLMGazetteer(NAMES, ManagedLLM(fake), fail_on_call=2)
        with pytest.raises(ExtractionError):
            extract_corpus([corpus], store, _config(), extractor=crashing)
        resumed = _LLMGazetteer(NAMES, ManagedLLM(fake))
        report = extract_corpus([corpus], store, _config(), resume=True, extractor=resumed)
        [run] = store.runs()
    # 3 calls for the batch the crash kept, 3 lost with the crashed batch, 3 on resume.
    assert report.llm_usage["llm_calls"] == 6
    assert json.loads(run.llm_usage) == report.llm_usage
    assert run.status == "complete" and run.documents == 6
