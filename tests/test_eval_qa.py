"""`kgx eval qa`: metrics on hand-made retrievers with known results, then the CLI end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kgx.errors import ConfigError, InputError
from kgx.evaluation.qa import (
    QAQuestion,
    answer_scores,
    evaluate_retrievers,
    load_qa_questions,
    qa_markdown,
    recall_plot,
)
from kgx.retrieval.protocol import RetrievedChunk, Retriever
from kgx.testing.cli import fails as _fails
from kgx.testing.cli import invoke as _invoke

FIXTURES = Path(__file__).parent / "fixtures"
QUESTIONS = FIXTURES / "2wiki_questions.jsonl"
CORPUS = FIXTURES / "2wiki_corpus.jsonl"


class FixedRetriever:
    """A retriever that returns fixed documents per question: "doc" or "doc#chunk" strings."""

    def __init__(self, name: str, results: dict[str, list[str]], delay_s: float = 0.0) -> None:
        self.name = name
        self.results = results
        self.delay_s = delay_s
        self.asked: list[tuple[str, int]] = []

    def warm_up(self) -> None:
        pass

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        self.asked.append((question, top_k))
        time.sleep(self.delay_s)
        chunks = []
        for rank, item in enumerate(self.results[question][:top_k]):
            doc, _, part = item.partition("#")
            chunks.append(RetrievedChunk(chunk_id=f"{doc}-{part or 0}", doc_id=f"store-{doc}",
                                         text=f"text of {item}", score=1.0 - rank / 100,
                                         external_id=None if doc.startswith("noid") else doc))
        return chunks


def _question(id_: str, gold: list[str], type_: str = "compositional",
              answers: tuple[str, ...] = ("x",)) -> QAQuestion:
    return QAQuestion(id=id_, question=f"question {id_}?", answers=list(answers),
                      gold_passage_ids=gold, type=type_)


@pytest.fixture
def two_questions():
    return [_question("q1", ["a", "b"], "compositional"),
            _question("q2", ["c", "d", "e", "f"], "bridge_comparison")]


def test_qa_recall_at_k_exact_values_overall_and_per_type(two_questions):
    retriever = FixedRetriever("fixed", {
        "question q1?": ["x", "a", "y", "z", "b", "w"],
        "question q2?": ["c", "d", "x", "y", "z", "e", "w", "v", "u", "f", "t"],
    })
    assert isinstance(retriever, Retriever)
    report = evaluate_retrievers({"fixed": retriever}, two_questions)
    result = report.retrievers["fixed"]
    assert report.ks == [2, 5, 10] and report.top_k == 10
    assert retriever.asked == [("question q1?", 10), ("question q2?", 10)]
    q1, q2 = result.per_question
    assert q1.recall_at == {2: 0.5, 5: 1.0, 10: 1.0}
    assert q2.recall_at == {2: 0.5, 5: 0.5, 10: 1.0}
    assert q1.retrieved == ["x", "a", "y", "z", "b", "w"]
    assert q1.hits == [False, True, False, False, True, False]
    assert result.overall.recall_at == {2: 0.5, 5: 0.75, 10: 1.0}
    assert result.overall.questions == 2
    assert set(result.by_type) == {"compositional", "bridge_comparison"}
    assert result.by_type["compositional"].recall_at == {2: 0.5, 5: 1.0, 10: 1.0}
    assert result.by_type["bridge_comparison"].recall_at == {2: 0.5, 5: 0.5, 10: 1.0}
    assert result.overall.exact_match is None and result.overall.answered == 0


def test_qa_recall_counts_each_document_once(two_questions):
    retriever = FixedRetriever("chunky", {
        "question q1?": ["a#1", "a#2", "a#3", "b#1", "x"],
        "question q2?": ["noid#1", "noid#2", "c"],
    })
    report = evaluate_retrievers({"chunky": retriever}, two_questions)
    q1, q2 = report.retrievers["chunky"].per_question
    assert q1.retrieved == ["a", "b", "x"] and q1.hits == [True, True, False]
    assert q1.recall_at[2] == 1.0  # without the deduplication a@2 would leave b out
    assert q2.retrieved == ["store-noid", "c"]  # no external id: the store's id, never gold
    assert q2.recall_at == {2: 0.25, 5: 0.25, 10: 0.25}


def test_qa_retrievers_side_by_side_with_latency_and_progress(two_questions):
    slow = FixedRetriever("slow", {"question q1?": ["a"], "question q2?": ["c"]}, delay_s=0.02)
    fast = FixedRetriever("fast", {"question q1?": ["a", "b"], "question q2?": []})
    calls = []
    report = evaluate_retrievers({"slow": slow, "fast": fast}, two_questions, ks=(1, 3),
                                 progress=lambda *call: calls.append(call))
    assert list(report.retrievers) == ["slow", "fast"] and report.ks == [1, 3]
    assert report.retrievers["slow"].overall.mean_latency_s >= 0.02
    assert report.retrievers["fast"].overall.mean_latency_s < 0.02
    assert report.retrievers["fast"].overall.recall_at == {1: 0.25, 3: 0.5}
    assert calls == [("slow", 1, 2), ("slow", 2, 2), ("fast", 1, 2), ("fast", 2, 2)]


def test_qa_answer_scores_take_the_best_alias():
    aliases = ["Theuderic I", "Theodoric I of Austrasia"]
    assert answer_scores("theodoric i of austrasia.", aliases) == (1.0, 1.0)
    exact, f1 = answer_scores("King Theuderic I", aliases)
    assert exact == 0.0 and f1 == pytest.approx(0.8)  # 2 of 3 tokens against "theuderic i"
    assert answer_scores("Paris", aliases) == (0.0, 0.0)


def test_qa_answers_use_the_chosen_retriever_up_to_the_limit():
    questions = [_question("q1", ["a"], "inference", ("Theuderic I", "Theodoric I")),
                 _question("q2", ["b"], "comparison", ("yes",)),
                 _question("q3", ["c"], "comparison", ("no",))]
    first = FixedRetriever("first", {f"question q{i}?": ["z"] for i in (1, 2, 3)})
    second = FixedRetriever("second", {f"question q{i}?": [d] for i, d in
                                       ((1, "a"), (2, "b"), (3, "c"))})
    seen = []

    def answerer(items):
        seen.extend((question, [c.external_id for c in chunks]) for question, chunks in items)
        return ["the Theodoric I", "Yes, it is"][:len(items)]

    report = evaluate_retrievers({"first": first, "second": second}, questions,
                                 answerer=answerer, answer_limit=2, answer_with=["second"])
    assert seen == [("question q1?", ["a"]), ("question q2?", ["b"])]
    assert report.answered_with == ["second"] and report.answer_limit == 2
    records = report.retrievers["second"].per_question
    assert [r.answer for r in records] == ["the Theodoric I", "Yes, it is", None]
    assert [r.exact_match for r in records] == [1.0, 0.0, None]
    assert records[1].token_f1 == pytest.approx(0.5)
    overall = report.retrievers["second"].overall
    assert (overall.answered, overall.exact_match) == (2, 0.5)
    assert overall.token_f1 == pytest.approx(0.75)
    comparison = report.retrievers["second"].by_type["comparison"]
    assert (comparison.questions, comparison.answered, comparison.exact_match) == (2, 1, 0.0)
    assert report.retrievers["first"].overall.answered == 0


def test_qa_answers_default_to_the_first_retriever(two_questions):
    retrievers = {name: FixedRetriever(name, {"question q1?": ["a"], "question q2?": ["c"]})
                  for name in ("one", "two")}
    report = evaluate_retrievers(retrievers, two_questions, answerer=lambda items: ["x"] *
                                 len(items))
    assert report.answered_with == ["one"]
    assert report.retrievers["one"].overall.exact_match == 1.0
    assert report.retrievers["two"].overall.answered == 0


def test_qa_counts_answers_the_llm_failed_to_give(two_questions):
    from kgx.retrieval.answer import Answer

    retriever = FixedRetriever("r", {"question q1?": ["a"], "question q2?": ["c"]})

    def answerer(items):
        return [Answer(question=items[0][0], answer="x"),
                Answer(question=items[1][0], answer="", error="reply was not JSON")]

    report = evaluate_retrievers({"r": retriever}, two_questions, answerer=answerer)
    overall = report.retrievers["r"].overall
    assert (overall.answered, overall.answer_failures, overall.exact_match) == (2, 1, 0.5)
    assert report.retrievers["r"].per_question[1].answer_error == "reply was not JSON"
    assert "1 answers were left empty and scored 0" in qa_markdown(report)


def test_qa_rejects_bad_settings(two_questions):
    retriever = FixedRetriever("r", {"question q1?": [], "question q2?": []})
    with pytest.raises(ConfigError, match="top_k 5 is below the largest cut-off 10"):
        evaluate_retrievers({"r": retriever}, two_questions, top_k=5)
    with pytest.raises(ConfigError, match="No retrievers"):
        evaluate_retrievers({}, two_questions)
    with pytest.raises(ConfigError, match="Cannot answer with nope"):
        evaluate_retrievers({"r": retriever}, two_questions, answerer=lambda items: [],
                            answer_with=["nope"])
    with pytest.raises(ConfigError, match="returned 0 answers for 2 questions"):
        evaluate_retrievers({"r": retriever}, two_questions, answerer=lambda items: [])


def test_qa_leaves_out_questions_whose_passages_are_not_in_the_corpus(two_questions):
    retriever = FixedRetriever("r", {"question q1?": ["a", "b"], "question q2?": ["c"]})
    report = evaluate_retrievers({"r": retriever}, two_questions, corpus_ids={"a", "b", "c"})
    assert (report.questions_read, report.questions_evaluated) == (2, 1)
    assert report.questions_missing_passages == ["q2"]
    assert [r.id for r in report.retrievers["r"].per_question] == ["q1"]
    assert "1 left out because a gold passage is not in the corpus" in qa_markdown(report)
    with pytest.raises(InputError, match="None of the 2 questions"):
        evaluate_retrievers({"r": retriever}, two_questions, corpus_ids={"z"})


def test_qa_markdown_and_plot(two_questions, tmp_path):
    retrievers = {name: FixedRetriever(name, {"question q1?": ["a", "b"], "question q2?": ["c"]})
                  for name in ("dense", "bm25")}
    report = evaluate_retrievers(retrievers, two_questions, answerer=lambda items: ["x"] *
                                 len(items))
    markdown = qa_markdown(report)
    assert "| retriever | questions | R@2 | R@5 | R@10 | latency ms | answered | EM | F1 |" \
        in markdown
    assert "| dense | 2 | 0.625 | 0.625 | 0.625 |" in markdown
    assert "### bridge_comparison (1 questions)" in markdown
    assert "### compositional (1 questions)" in markdown
    assert markdown.count("| bm25 |") == 3  # overall and both types
    recall_plot(report)(tmp_path / "qa.png")
    assert (tmp_path / "qa.png").read_bytes().startswith(b"\x89PNG")


# -- loading questions -------------------------------------------------------------------------

def test_qa_load_questions_reads_the_fixture_and_limits():
    questions = load_qa_questions(QUESTIONS)
    assert len(questions) == 12
    assert {q.type for q in questions} == {"compositional", "comparison", "bridge_comparison",
                                           "inference"}
    assert [q.id for q in load_qa_questions(QUESTIONS, limit=3)] == [q.id for q in
                                                                    questions[:3]]


@pytest.mark.parametrize(("line", "expected"), [
    ('{"id": "b", "question": "Q?", "gold_passage_ids": ["p"]}', r"q\.jsonl:3: answers: Field "
                                                                 "required"),
    ('{"id": "b", "question": "Q?", "answers": [], "gold_passage_ids": ["p"]}',
     r"q\.jsonl:3: answers: List should have at least 1 item"),
    ('{"id": "b", "question": "Q?", "answers": ["x"], "gold_passage_ids": "p"}',
     r"q\.jsonl:3: gold_passage_ids: Input should be a valid list"),
    ('{"id": "a", "question": "Q?", "answers": ["x"], "gold_passage_ids": ["p"]}',
     r"q\.jsonl:3: question id 'a' is already used on line 1"),
    ('{"id": "b", "question": "Q?",', r"q\.jsonl:3: not valid JSON"),
    ('["a list"]', r"q\.jsonl:3: expected a JSON object"),
])
def test_qa_load_questions_names_the_bad_line(tmp_path, line, expected):
    path = tmp_path / "q.jsonl"
    good = '{"id": "a", "question": "Q?", "answers": ["x"], "gold_passage_ids": ["p"]}'
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(InputError, match=expected):
        load_qa_questions(path)


def test_qa_load_questions_needs_a_file_with_questions(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_qa_questions(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="holds no questions"):
        load_qa_questions(tmp_path / "empty.jsonl")


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_eval_qa_checks_its_options_before_any_work(runner, tmp_path):
    base = ("eval", "qa", "--questions", str(QUESTIONS), "--corpus", str(CORPUS), "--out",
            str(tmp_path))
    error = _fails(runner, *base, "--answer", "--retrievers", "dense,bm25",
                   "--answer-retriever", "graph")
    assert isinstance(error, ConfigError) and "not among --retrievers" in str(error)
    error = _fails(runner, *base, "--answer-limit", "5")
    assert isinstance(error, ConfigError) and "add --answer" in str(error)
    error = _fails(runner, *base, "--retrievers", "dense,dense")
    assert isinstance(error, ConfigError) and "twice" in str(error)
    error = _fails(runner, "eval", "qa", "--questions", str(tmp_path / "nope.jsonl"),
                   "--corpus", str(CORPUS), "--out", str(tmp_path))
    assert isinstance(error, InputError) and "nope.jsonl does not exist" in str(error)
    assert not (tmp_path / "store").exists()


def _check_reports(out: Path, names: list[str], questions: int = 12) -> dict:
    assert {"qa.json", "qa.md", "qa.png"} <= {p.name for p in out.iterdir()}
    report = json.loads((out / "qa.json").read_text())
    assert list(report["retrievers"]) == names
    assert report["questions_evaluated"] == questions
    for name in names:
        result = report["retrievers"][name]
        assert len(result["per_question"]) == questions
        assert set(result["by_type"]) == {"compositional", "comparison", "bridge_comparison",
                                          "inference"}
        recall = result["overall"]["recall_at"]
        assert 0.0 <= recall["2"] <= recall["5"] <= recall["10"] <= 1.0
        assert recall["10"] > 0.0  # 60 passages: every retriever finds some gold
    assert (out / "qa.png").read_bytes().startswith(b"\x89PNG")
    return report


@pytest.mark.slow  # six retrievers and the local LLM
def test_cli_eval_qa_end_to_end_then_reuses_the_store(runner, tmp_path):
    from kgx.graphdb import open_store

    out = tmp_path / "out"
    args = ("eval", "qa", "--questions", str(QUESTIONS), "--corpus", str(CORPUS), "--out",
            str(out), "--retrievers", "dense,bm25")
    first = _invoke(runner, *args)
    assert "60 documents written" in first
    assert "| dense | 12 |" in first and "| bm25 | 12 |" in first
    _check_reports(out, ["dense", "bm25"])
    with open_store(str(out / "store"), read_only=True) as store:
        runs_before = len(store.runs())

    second = _invoke(runner, *args, "--limit", "5", "--top-k", "5")
    assert "all 60 corpus documents were already extracted with spacy.svo.v1" in second
    assert "nothing re-extracted" in second and "documents written" not in second
    report = json.loads((out / "qa.json").read_text())
    assert report["questions_evaluated"] == 5 and report["ks"] == [2, 5]
    with open_store(str(out / "store"), read_only=True) as store:
        assert len(store.runs()) == runs_before


@pytest.mark.slow  # answers with the local LLM
def test_cli_eval_qa_answers_from_the_chosen_retriever(runner, tmp_path, monkeypatch):
    import kgx.llm.spec
    from kgx.testing.fake_llm import FakeLLM, json_reply

    gold = {q["question"]: q["answers"][0]
            for q in map(json.loads, QUESTIONS.read_text().splitlines())}

    def reply(request) -> str:  # the gold answer of the question the prompt asks
        asked = request.prompt_text().rsplit("QUESTION: ", 1)[1]
        return json_reply(answer=next(a for q, a in gold.items() if asked.startswith(q)),
                          citations=[1])

    fake = FakeLLM([reply] * 4)
    monkeypatch.setattr(kgx.llm.spec, "make_backend", lambda spec, settings=None: fake)
    output = _invoke(runner, "eval", "qa", "--questions", str(QUESTIONS), "--corpus",
                     str(CORPUS), "--out", str(tmp_path), "--retrievers", "dense,bm25",
                     "--answer", "--answer-retriever", "bm25", "--answer-limit", "4",
                     "--llm", "fake:model", "--no-cache", "--no-grounded")
    assert len(fake.requests) == 4 and not fake.replies
    report = json.loads((tmp_path / "qa.json").read_text())
    assert report["answered_with"] == ["bm25"] and report["answerers"] == ["llm"]
    bm25 = report["retrievers"]["bm25"]["overall"]
    assert (bm25["answered"], bm25["exact_match"], bm25["token_f1"]) == (4, 1.0, 1.0)
    assert bm25["answerers"]["llm"]["abstention"] == 0.0
    assert report["retrievers"]["dense"]["overall"]["answered"] == 0
    assert "| answered | EM | F1 |" in output and "| bm25 | 12 |" in output
    assert "| retriever | answerer | questions | EM | F1 | abstained |" in output


def test_cli_eval_qa_compares_the_graph_answerer_with_no_llm(runner, tmp_path, monkeypatch):
    def no_llm(*args, **kwargs):
        raise AssertionError("the graph answerer must not load an LLM")

    monkeypatch.setattr("kgx.llm.spec.load_llm", no_llm)
    output = _invoke(runner, "eval", "qa", "--questions", str(QUESTIONS), "--corpus",
                     str(CORPUS), "--out", str(tmp_path), "--retrievers", "hybrid",
                     "--answer")
    report = json.loads((tmp_path / "qa.json").read_text())
    assert report["answerers"] == ["graph"]
    result = report["retrievers"]["hybrid"]
    scores = result["overall"]["answerers"]["graph"]
    assert scores["questions"] == 12 and 0 <= scores["abstention"] <= 1
    assert set(result["overall"]["answer_recall_at"]) == {"2", "5", "10"}
    for record in result["per_question"]:
        graph = record["answers"]["graph"]
        assert record["answer"] == graph["answer"]
        assert graph["abstained"] == (graph["answer"] is None)
        assert 0 <= graph["confidence"] <= 1
    # Comparison questions pick one of their two options, which the fixture's passages hold.
    assert scores["exact_match"] > 0
    assert "### Answers by answerer" in output


def test_cli_eval_qa_warns_about_questions_without_their_passages(runner, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = CORPUS.read_text().splitlines()
    first_gold = json.loads(QUESTIONS.read_text().splitlines()[0])["gold_passage_ids"][0]
    corpus.write_text("".join(f"{line}\n" for line in lines
                              if json.loads(line)["id"] != first_gold))
    out = _invoke(runner, "eval", "qa", "--questions", str(QUESTIONS), "--corpus", str(corpus),
                  "--out", str(tmp_path / "out"), "--retrievers", "bm25")
    assert "1 of 12 questions name gold passages that are not in" in out
    report = json.loads((tmp_path / "out" / "qa.json").read_text())
    assert report["questions_evaluated"] == 11 and len(report["questions_missing_passages"]) == 1


def test_cli_eval_qa_over_neo4j(runner, tmp_path, neo4j_uri):
    from kgx.graphdb import open_store

    with open_store(neo4j_uri) as store:
        store.query("MATCH (n) DETACH DELETE n", write=True)
    out = tmp_path / "out"
    args = ("eval", "qa", "--questions", str(QUESTIONS), "--corpus", str(CORPUS), "--out",
            str(out), "--store", neo4j_uri, "--retrievers", "dense,bm25")
    assert "60 documents written" in _invoke(runner, *args)
    _check_reports(out, ["dense", "bm25"])
    assert not (out / "store").exists()
    assert "nothing re-extracted" in _invoke(runner, *args, "--limit", "3")


def test_cli_eval_qa_student_extractor_keeps_its_own_llm():
    """--extractor student with the default --llm serves the student, not the answering LLM."""
    from kgx.cli.qa import _extractor
    from kgx.llm.spec import load_llm
    from kgx.pipeline import ExtractConfig
    from kgx.testing.fake_llm import FakeLLM

    shared = load_llm(FakeLLM())
    student = _extractor(ExtractConfig(extractor="student"), shared)
    assert student.llm is not shared and "+lora:student-" in student.model
    named = ExtractConfig(extractor="student", llm={"spec": "openai:some-model"})
    assert _extractor(named, shared).llm is shared
    assert _extractor(ExtractConfig(extractor="synthkg"), shared).llm is shared
