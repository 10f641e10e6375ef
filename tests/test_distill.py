"""Distillation: data from teacher files and stores, the split, training, the student extractor,
and `kgx distill eval`, on tiny data with the real bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgx.cli import app
from kgx.distill.data import (
    SplitSpec,
    examples_from_store,
    examples_from_teacher_openie,
    read_dataset,
    split_by_document,
    write_dataset,
)
from kgx.distill.format import (
    StudentGraph,
    entities_in_order,
    parse_lines,
    student_format,
    student_target,
)
from kgx.errors import ConfigError, InputError
from kgx.llm.managed import ManagedLLM
from kgx.models import Chunk
from kgx.testing.fake_llm import FakeLLM

FIXTURES = Path(__file__).parent / "fixtures"
TEACHER = FIXTURES / "teacher_openie_small.json"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distill-data")
    spec = SplitSpec(seed=13, validation=0.2, test=0.2)
    write_dataset(out, split_by_document(examples_from_teacher_openie(TEACHER), spec),
                  spec=spec, sources=[TEACHER.name])
    return out


def test_distill_target_is_compact_json_and_drops_bad_triples():
    target = student_target(["Ada", "Ada", " London "],
                            [["Ada", "born in", "London"], ["Ada", "only two"]])
    assert json.loads(target) == {"entities": ["Ada", "London"],
                                  "triples": [["Ada", "born in", "London"]]}
    assert StudentGraph.model_validate_json(target).triples == [["Ada", "born in", "London"]]
    assert "propositions" in student_target([], [], ["Ada was born in London."])


def test_v2_target_lists_entities_in_order_and_points_triples_at_them():
    text = "Ada Lovelace met Charles Babbage in London in 1833."
    target = student_format("v2").target(
        ["London", "Charles Babbage", "Ada Lovelace", "London", "1833"],
        [["Ada Lovelace", "met", "charles babbage"], ["Ada Lovelace", "met in", "1833"],
         ["Ada Lovelace", "aged", "17"], ["Ada", "only two"], ["Babbage", "a|b", "engine"]],
        text=text)
    assert target.splitlines() == [
        "1 Ada Lovelace", "2 Charles Babbage", "3 London", "4 1833", "---",
        "1|met|2", "1|met in|4", '1|aged|"17"', "Babbage|a/b|engine"]
    graph = parse_lines(target)
    assert graph.entities == ["Ada Lovelace", "Charles Babbage", "London", "1833"]
    assert graph.triples == [["Ada Lovelace", "met", "Charles Babbage"],
                             ["Ada Lovelace", "met in", "1833"], ["Ada Lovelace", "aged", "17"],
                             ["Babbage", "a/b", "engine"]]
    assert graph.malformed == []
    assert entities_in_order(["zeta", "Ada"], "Ada then nothing") == ["Ada", "zeta"]


def test_v2_reader_keeps_good_lines_and_reports_the_rest():
    graph = parse_lines("1 Ada\n2 London\nnot numbered\n---\n1|born in|2\n1|half\n9|x|2\n1|born")
    assert graph.entities == ["Ada", "London"]
    assert graph.triples == [["Ada", "born in", "London"]]
    assert graph.malformed == ["not numbered", "1|half", "9|x|2", "1|born"]  # no entity 9


def test_student_extractor_reads_v2_lines_and_records_malformed_replies():
    from kgx.extractors.student import StudentExtractor

    fake = FakeLLM(["1 Ada Lovelace\n2 London\n3 Paris\n---\n1|born in|2",
                    "1 Nothing\n---\nbroken"])
    extractor = StudentExtractor(ManagedLLM(fake, on_error="skip-and-record", repair=False),
                                 reply_format="v2")
    assert extractor.format.version == "student.graph.v2"
    chunks = [Chunk(doc_id="d", index=i, text=t, start=0, end=len(t), n_tokens=5)
              for i, t in enumerate(["Ada Lovelace was born in London.", "Nothing here."])]
    found = extractor.extract(chunks, run_id="r")
    assert fake.requests[0].response_model is None
    assert [(r.subject.name, r.predicate, r.object.name) for r in found[0].relations] == [
        ("Ada Lovelace", "born in", "London")]
    assert found[0].relations[0].provenance.prompt_version == "student.graph.v2"
    assert [e.name for e in found[0].entities] == ["Ada Lovelace", "London"]  # no Paris: copy
    assert [e.name for e in found[1].entities] == ["Nothing"]
    assert extractor.malformed == [chunks[1].id] and extractor.failures == []


def test_v3_writes_triple_ends_out_and_reads_numbers_as_text():
    from kgx.extractors.student import StudentExtractor

    text = "Ada Lovelace met Charles Babbage in 1833."
    fmt = student_format("v3")
    target = fmt.target(["Charles Babbage", "Ada Lovelace"],
                        [["Ada Lovelace", "met", "Charles Babbage"], ["Ada Lovelace", "met in",
                                                                      "1833"]], text=text)
    assert target.splitlines() == ["1 Ada Lovelace", "2 Charles Babbage", "---",
                                   "Ada Lovelace|met|Charles Babbage", "Ada Lovelace|met in|1833"]
    assert fmt.parse(target).triples == [["Ada Lovelace", "met", "Charles Babbage"],
                                         ["Ada Lovelace", "met in", "1833"]]
    assert fmt.parse("1 Ada\n---\nAda|is\n2|x|3").malformed == ["Ada|is"]
    fake = FakeLLM([target])
    extractor = StudentExtractor(ManagedLLM(fake, on_error="skip-and-record", repair=False))
    assert extractor.format.version == "student.graph.v3"  # the default
    chunk = Chunk(doc_id="d", index=0, text=text, start=0, end=len(text), n_tokens=9)
    [found] = extractor.extract([chunk], run_id="r")
    assert sorted((r.subject.name, r.predicate, r.object.name) for r in found.relations) == [
        ("Ada Lovelace", "met", "Charles Babbage"), ("Ada Lovelace", "met in", "1833")]



def test_student_extractor_reads_a_repeated_triple_once():
    from kgx.extractors.student import StudentExtractor

    text = "Ada Lovelace was born in London and lived in London."
    reply = ("1 Ada Lovelace\n2 London\n---\nAda Lovelace|born in|London\n"
             "ada lovelace| Born  in |London\nAda Lovelace|lived in|London")
    chunk = Chunk(doc_id="d", index=0, text=text, start=0, end=len(text), n_tokens=12)
    found = {}
    for unique in (True, False):
        extractor = StudentExtractor(ManagedLLM(FakeLLM([reply]), on_error="skip-and-record",
                                                repair=False), unique_relations=unique)
        [found[unique]] = extractor.extract([chunk], run_id="r")
    assert [(r.subject.name, r.predicate, r.object.name) for r in found[True].relations] == [
        ("Ada Lovelace", "born in", "London"), ("Ada Lovelace", "lived in", "London")]
    assert len(found[False].relations) == 3

def test_student_triples_keep_their_confidence_and_unsure_ones_are_dropped():
    import math

    from kgx.extractors.student import StudentExtractor, line_confidences
    from kgx.llm.types import Completion

    text = "Ada Lovelace was born in London and worked in Paris."
    sure, unsure = math.log(0.9), math.log(0.3)
    pieces = [("1 Ada Lovelace\n", sure), ("2 London\n", sure), ("---\n", sure),
              ("Ada Lovelace|born in", sure), ("|London\n", sure),
              ("Ada Lovelace|", sure), ("worked in|Paris", unsure), ("\n", unsure)]
    reply = "".join(piece for piece, _ in pieces)
    confidences = line_confidences(pieces)
    assert confidences["Ada Lovelace|born in|London"] == pytest.approx(0.9)
    assert confidences["Ada Lovelace|worked in|Paris"] == pytest.approx(
        math.exp((sure + 2 * unsure) / 3))  # the geometric mean of the line's tokens
    assert line_confidences(None) == {} and line_confidences([("a|b|c", -1.0)]) == {
        "a|b|c": pytest.approx(math.exp(-1.0))}  # a last line without its newline
    chunk = Chunk(doc_id="d", index=0, text=text, start=0, end=len(text), n_tokens=12)
    found = {}
    for floor in (0.7, 0.0):
        fake = FakeLLM([Completion(reply, 10, 20, logprobs=tuple(pieces))])
        extractor = StudentExtractor(ManagedLLM(fake, on_error="skip-and-record", repair=False),
                                     min_confidence=floor)
        [found[floor]] = extractor.extract([chunk], run_id="r")
        assert fake.requests[0].params.logprobs  # the student asks for them
    assert [(r.predicate, round(r.confidence, 3)) for r in found[0.7].relations] == [
        ("born in", 0.9)]
    assert "Paris" not in {e.name for e in found[0.7].entities}  # a dropped triple adds no node
    assert [r.predicate for r in found[0.0].relations] == ["born in", "worked in"]
    assert "Paris" in {e.name for e in found[0.0].entities}
    plain = StudentExtractor(ManagedLLM(FakeLLM([reply]), on_error="skip-and-record",
                                        repair=False), min_confidence=0.7)
    [without] = plain.extract([chunk], run_id="r")  # a backend without log-probs drops none
    assert [r.confidence for r in without.relations] == [1.0, 1.0]


def test_student_confidence_floor_from_the_environment(monkeypatch):
    from kgx.extractors.student import MIN_CONFIDENCE, StudentExtractor

    llm = ManagedLLM(FakeLLM([]), on_error="skip-and-record", repair=False)
    assert StudentExtractor(llm).min_confidence == MIN_CONFIDENCE
    monkeypatch.setenv("KGX_STUDENT_MIN_CONFIDENCE", "0")
    assert StudentExtractor(llm).min_confidence == 0.0
    for bad in ("high", "1.5"):
        monkeypatch.setenv("KGX_STUDENT_MIN_CONFIDENCE", bad)
        with pytest.raises(ConfigError, match=r"KGX_STUDENT_MIN_CONFIDENCE.*from 0 to 1"):
            StudentExtractor(llm)


def test_completion_log_probs_survive_the_cache_and_have_a_cache_key_of_their_own():
    from kgx.llm.cache import _digest, generation_key
    from kgx.llm.types import Completion, LLMRequest, SamplingParams

    done = Completion("a\nb", 3, 2, logprobs=(("a\n", -0.5), ("b", -0.25)))
    assert Completion.from_json(done.to_json()) == done
    assert Completion.from_json(Completion("x", 1, 1).to_json()).logprobs is None
    plain = LLMRequest.from_prompt("hi")
    asked = LLMRequest.from_prompt("hi", params=SamplingParams(logprobs=True))
    assert generation_key("b", "m", plain) != generation_key("b", "m", asked)
    params = plain.params.model_dump(mode="json")
    del params["logprobs"]  # keys of requests without log-probs are what they were before
    assert generation_key("b", "m", plain) == _digest({
        "kind": "generate", "backend": "b", "model": "m",
        "messages": [m.model_dump() for m in plain.messages], "schema": None,
        "params": params})


def test_distill_split_keeps_each_document_on_one_side(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    sides = {name: read_dataset(dataset / f"{name}.jsonl")
             for name in ("train", "validation", "test")}
    docs = {name: {e.doc for e in examples} for name, examples in sides.items()}
    assert not docs["train"] & docs["test"] and not docs["train"] & docs["validation"]
    assert sum(len(v) for v in sides.values()) == 24
    assert manifest["split"]["seed"] == 13 and manifest["splits"]["test"]["examples"] > 0
    line = json.loads((dataset / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
    assert line["messages"][:2] == student_format().messages(line["text"])


def test_distill_split_is_stable_under_reordering():
    examples = examples_from_teacher_openie(TEACHER)
    spec = SplitSpec(seed=7)
    forward = {e.id: side for side, rows in split_by_document(examples, spec).items()
               for e in rows}
    backward = {e.id: side for side, rows in split_by_document(examples[::-1], spec).items()
                for e in rows}
    assert forward == backward


def test_distill_bad_teacher_file_names_the_passage(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"docs": [{"title": "A", "passage": "x"}, {"title": "B"}]}))
    with pytest.raises(InputError, match=r"docs\[1\] has no passage text"):
        examples_from_teacher_openie(bad)


def test_distill_examples_from_a_teacher_run_in_each_store(each_store_uri, tmp_path):
    from kgx.graphdb import open_store
    from kgx.pipeline import ExtractConfig, extract_corpus

    docs = tmp_path / "ada.txt"
    docs.write_text("Ada Lovelace wrote the first program. Charles Babbage designed the "
                    "Analytical Engine.", encoding="utf-8")
    with open_store(each_store_uri) as store:
        extract_corpus([docs], store, ExtractConfig(extractor="spacy"))
        examples = examples_from_store(store, "spacy.svo.v1")
        assert examples and all(e.text for e in examples)
        assert any(e.triples for e in examples)
        with pytest.raises(InputError, match=r"no chunks extracted by 'synthkg\.v1'"):
            examples_from_store(store, "synthkg.v1")


def test_student_extractor_sends_one_request_per_chunk():
    from kgx.extractors.student import StudentExtractor

    reply = student_target(["Ada Lovelace", "London"], [["Ada Lovelace", "born in", "London"]])
    fake = FakeLLM([reply, "{not json"])
    extractor = StudentExtractor(ManagedLLM(fake, on_error="skip-and-record", repair=False),
                                 reply_format="v1")
    chunks = [Chunk(doc_id="d", index=i, text=t, start=0, end=len(t), n_tokens=5)
              for i, t in enumerate(["Ada Lovelace was born in London.", "Nothing here."])]
    found = extractor.extract(chunks, run_id="r")
    assert len(fake.requests) == 2
    assert [(r.subject.name, r.predicate, r.object.name) for r in found[0].relations] == [
        ("Ada Lovelace", "born in", "London")]
    assert found[0].relations[0].provenance.prompt_version == "student.graph.v1"
    assert found[1].relations == [] and len(extractor.failures) == 1


@pytest.mark.slow  # trains the student on CPU
def test_distill_train_few_steps_then_resume(runner, dataset, tmp_path):
    out = tmp_path / "student"
    args = ["distill", "train", str(dataset), "--out", str(out), "--limit", "4",
            "--max-length", "256", "--save-steps", "1", "--eval-examples", "2",
            "--grad-accumulation", "1"]
    first = runner.invoke(app, [*args, "--max-steps", "2"])
    assert first.exit_code == 0, first.output
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "training_curve.png").is_file()
    summary = json.loads((out / "training.json").read_text())
    assert summary["global_step"] == 2 and summary["train_loss"] > 0
    assert json.loads((out / "student_format.json").read_text()) == {"format": "v3"}
    second = runner.invoke(app, [*args, "--max-steps", "3"])
    assert second.exit_code == 0, second.output
    resumed = json.loads((out / "training.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 3


@pytest.mark.slow  # trains the student on CPU
def test_distill_eval_cli_on_the_trained_adapter(runner, dataset, tmp_path):
    from kgx.distill.shipped import shipped_adapter

    out = tmp_path / "student"
    trained = runner.invoke(app, ["distill", "train", str(dataset), "--out", str(out),
                                  "--limit", "2", "--max-length", "256", "--max-steps", "1",
                                  "--eval-examples", "0", "--grad-accumulation", "1",
                                  "--init-adapter", str(shipped_adapter("v1"))])
    assert trained.exit_code == 0, trained.output
    warm = json.loads((out / "adapter_config.json").read_text())
    assert warm["r"] == json.loads((shipped_adapter("v1") / "adapter_config.json").read_text())["r"]
    result = runner.invoke(app, ["distill", "eval", str(dataset), "--student", str(out),
                                 "--out", str(tmp_path / "report"), "--limit", "2",
                                 "--systems", "student,spacy,base", "--base-limit", "1",
                                 "--max-tokens", "48"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "distill.json").read_text())
    student = report["systems"]["student"]
    assert student["llm_calls_per_document"] == 1.0
    assert report["systems"]["spacy"]["llm_calls"] is None
    assert report["systems"]["base"]["documents"] == 1
    assert set(student["agreement"]["by_mode"]) == {"exact", "normalized", "fuzzy", "embedding"}


def test_distill_eval_rejects_unknown_systems(runner, dataset, tmp_path):
    result = runner.invoke(app, ["distill", "eval", str(dataset), "--out", str(tmp_path),
                                 "--systems", "student,gpt5"])
    assert result.exit_code != 0
