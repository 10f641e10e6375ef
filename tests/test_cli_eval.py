"""`kgx eval` end to end: a real store built with `kgx extract` (spaCy), the real MiniLM encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgx.cli import app
from kgx.errors import ConfigError, InputError
from kgx.testing.cli import fails as _fails
from kgx.testing.cli import invoke as _invoke

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
QUESTIONS = FIXTURES / "multihop_questions.jsonl"
TEACHER = FIXTURES / "teacher_3docs.json"


@pytest.fixture(scope="module")
def store(tmp_path_factory, runner):
    """One store with 6 2Wiki passages, 1 MINE essay and the 3 teacher passages."""
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "passages.jsonl").write_text((FIXTURES / "multihop_passages.jsonl").read_text())
    _invoke(runner, "eval", "mine-essays", str(FIXTURES / "mine"), "--out",
            str(corpus / "essays.jsonl"))
    teacher = json.loads(TEACHER.read_text())["docs"]
    (corpus / "teacher.jsonl").write_text("".join(
        json.dumps({"title": d["title"], "text": d["text"]}) + "\n" for d in teacher))
    path = str(tmp_path_factory.mktemp("store") / "g")
    assert "10 documents written" in _invoke(runner, "extract", str(corpus), "--store", path)
    return path




def test_cli_eval_kg_gold_writes_consistent_reports(runner, store, tmp_path):
    output = _invoke(runner, "eval", "kg", "--store", store, "--gold", str(QUESTIONS),
                     "--out", str(tmp_path))
    assert "| all | 3 |" in output and "coverage@0.7" in output
    assert {p.name for p in tmp_path.iterdir()} == {"synthkg.json", "synthkg.md", "synthkg.png"}
    report = json.loads((tmp_path / "synthkg.json").read_text())
    assert (report["questions_evaluated"], report["questions_missing_passages"]) == (3, 1)
    overall = report["overall"]
    assert set(report["by_type"]) == {"compositional", "inference", "comparison"}
    assert overall["gold_triples"] == sum(q["gold_triples"] for q in report["per_question"]) == 8
    assert overall["extracted_triples"] > 0
    for name in ("semantic_score", "coverage", "token_f1"):
        assert 0.0 < overall[name] <= 1.0
    assert overall["coverage"] == overall["coverage_curve"]["0.70"]
    assert overall["semantic_score"] == pytest.approx(
        sum(t["semantic_score"] * t["gold_triples"] for t in report["by_type"].values()) / 8)
    assert (tmp_path / "synthkg.png").read_bytes().startswith(b"\x89PNG")


def test_cli_eval_kg_says_which_passages_it_looked_for(runner, store, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(QUESTIONS.read_text().splitlines()[-1] + "\n")
    error = _fails(runner, "eval", "kg", "--store", store, "--gold", str(questions),
                   "--out", str(tmp_path))
    assert isinstance(error, InputError)
    assert "2wikimultihopqa-p00011" in str(error) and "kgx extract" in str(error)


def test_cli_eval_kg_needs_something_to_evaluate(runner, store, tmp_path):
    assert isinstance(_fails(runner, "eval", "kg", "--store", store, "--out", str(tmp_path)),
                      ConfigError)
    error = _fails(runner, "eval", "kg", "--store", store, "--gold", str(tmp_path / "no.jsonl"),
                   "--out", str(tmp_path))
    assert isinstance(error, InputError) and "no.jsonl" in str(error)


def test_cli_eval_kg_mine_with_embedding_judge(runner, store, tmp_path):
    output = _invoke(runner, "eval", "kg", "--store", store, "--mine", str(FIXTURES / "mine"),
                     "--out", str(tmp_path))
    assert "embedding fallback" in output and "not NLI" in output
    report = json.loads((tmp_path / "mine.json").read_text())
    [essay] = report["essays"]
    assert essay["facts"] == report["facts"] == 15 and essay["relations"] > 0
    assert 0.0 < report["recall"] <= 1.0
    assert report["recall"] == essay["recalled"] / 15
    assert all(v["recalled"] == (v["score"] >= 0.8) for v in essay["verdicts"])
    assert (tmp_path / "mine.md").read_text().startswith("## MINE fact recall")


def test_cli_eval_kg_mine_names_the_essays_it_did_not_find(runner, store, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "essays.json").write_text(json.dumps([{"topic": "Tides", "content": "Tides."}]))
    (folder / "facts.json").write_text(json.dumps([[{"answer": "The moon pulls tides."}]]))
    error = _fails(runner, "eval", "kg", "--store", store, "--mine", str(folder),
                   "--out", str(tmp_path))
    assert isinstance(error, InputError) and "'Tides'" in str(error)


def test_cli_eval_teacher_predictions_missing_one_triple(runner, tmp_path):
    docs = json.loads(TEACHER.read_text())["docs"]
    kept = [[t for t in d["extracted_triples"] if len(t) == 3] for d in docs]
    with (tmp_path / "pred.jsonl").open("w") as sink:
        for doc, triples in zip(docs, kept, strict=True):
            triples = triples[1:] if doc is docs[0] else triples
            sink.write(json.dumps({"title": doc["title"], "entities": doc["extracted_entities"],
                                   "triples": triples}) + "\n")
    output = _invoke(runner, "eval", "teacher", str(TEACHER), "--predictions",
                     str(tmp_path / "pred.jsonl"), "--out", str(tmp_path))
    assert "Agreement with the teacher" in output
    report = json.loads((tmp_path / "teacher.json").read_text())
    gold = sum(len(t) for t in kept)
    recall = (gold - 1) / gold
    for scores in report["by_mode"].values():
        assert scores["entities"]["f1"] == 1.0
        assert scores["triples"]["precision"] == 1.0
        assert scores["triples"]["recall"] == pytest.approx(recall)
        assert scores["triples"]["f1"] == pytest.approx(2 * recall / (1 + recall))
    assert report["documents"] == 3 and report["teacher_dropped_triples"] >= 1


def test_cli_eval_kg_teacher_from_store(runner, store, tmp_path):
    _invoke(runner, "eval", "kg", "--store", store, "--teacher", str(TEACHER),
            "--out", str(tmp_path))
    report = json.loads((tmp_path / "teacher.json").read_text())
    assert report["documents"] == 3
    exact, loose = report["by_mode"]["exact"], report["by_mode"]["embedding"]
    assert 0.0 < exact["entities"]["f1"] <= loose["entities"]["f1"] <= 1.0
    assert exact["triples"]["f1"] <= loose["triples"]["f1"]


def test_cli_eval_propositions_with_reference(runner, tmp_path):
    output = _invoke(runner, "eval", "propositions", str(FIXTURES / "propositions_predicted.jsonl"),
                     "--reference", str(FIXTURES / "propsegment_reference.jsonl"),
                     "--judge", "lexical", "--out", str(tmp_path))
    assert "lexical fallback" in output and "reference-based" in output
    report = json.loads((tmp_path / "propositions.json").read_text())
    free, based = report["reference_free"], report["reference_based"]
    assert (free["sentences"], based["sentences"], based["sentences_without_reference"]) == (
        6, 5, 1)
    for value in (free["precision"], free["recall"], based["precision"], based["recall"]):
        assert 0.0 < value <= 1.0
    assert (tmp_path / "propositions.md").exists()


def test_cli_eval_propositions_embedding_judge(runner, tmp_path):
    _invoke(runner, "eval", "propositions", str(FIXTURES / "propositions_predicted.jsonl"),
            "--judge", "embedding", "--out", str(tmp_path))
    report = json.loads((tmp_path / "propositions.json").read_text())
    assert report["judge"] == "embedding" and report["reference_based"] is None
    assert 0.3 < report["reference_free"]["precision"] <= 1.0


def test_cli_eval_propositions_bad_line_and_unknown_judge(runner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence": "A.", "propositions": ["A."]}\nnot json\n')
    error = _fails(runner, "eval", "propositions", str(bad), "--out", str(tmp_path))
    assert isinstance(error, InputError) and "bad.jsonl:2" in str(error)
    result = runner.invoke(app, ["eval", "propositions",
                                 str(FIXTURES / "propositions_predicted.jsonl"),
                                 "--judge", "nli", "--out", str(tmp_path)])
    assert result.exit_code == 2  # a usage error, naming the judges there are
    assert all(judge in result.output for judge in ("embedding", "lexical", "llm"))
