"""The NesyCD knowledge base: exact orchestration with fake LLMs on both stores, retrieval with
real BM25 and MiniLM, and `kgx kb` / `kgx eval kb` end to end against a real llama.cpp server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kgx.cli import app
from kgx.errors import InputError, LLMError
from kgx.graphdb import open_store
from kgx.kb import (
    KBIndex,
    KnowledgeEntry,
    Problem,
    build_kb,
    evaluate_kb,
    export_kb,
    extract_answer,
    gold_answer,
    import_kb,
    load_problems,
    solve,
    split_problems,
)
from kgx.kb.store import count_entries, entry_links, load_entries, save_entries
from kgx.llm.managed import ManagedLLM
from kgx.llm.types import LLMRequest
from kgx.testing.fake_llm import FakeLLM, json_reply

FIXTURE = Path(__file__).parent / "fixtures" / "gsm8k_sample.jsonl"


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_problems(FIXTURE)


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))


def _question(request: LLMRequest) -> str:
    return request.messages[-1].content.rsplit("Question: ", 1)[-1].removesuffix("\nAnswer:")


def _student(problems: list[Problem], right: set[int], calls: int | None = None) -> FakeLLM:
    """A student that answers problems[i] correctly for i in `right`, and off by one otherwise."""
    index = {p.question: i for i, p in enumerate(problems)}

    def reply(request: LLMRequest) -> str:
        i = index[_question(request)]
        gold = int(problems[i].answer)
        return f"Some steps.\n#### {gold if i in right else gold + 1}"

    return FakeLLM([reply] * (calls or len(problems)), model="student-135m")


def _teacher_reply(request: LLMRequest) -> str:
    text = request.messages[-1].content
    topic = "eggs" if "ducks" in text else "money" if "$" in text else "counting"
    return json_reply(summary=f"Check every step about {topic}.",
                      knowledge=f"Knowledge about {topic}.", concepts=[topic.title(), "Arithmetic"])


def _managed(backend: FakeLLM) -> ManagedLLM:
    return ManagedLLM(backend, on_error="skip-and-record")


def _build(problems, store, right, **kwargs):
    student, teacher = _student(problems, right), FakeLLM([_teacher_reply] * len(problems),
                                                          model="teacher-70b")
    report = build_kb(_managed(student), _managed(teacher), problems, store, **kwargs)
    return report, student, teacher


# -- problems and answers ------------------------------------------------------------------------

def test_kb_problems_read_gsm8k_gold_answers(problems):
    assert len(problems) == 12
    assert problems[0].answer == "18" and problems[2].answer == "70000"
    assert problems[0].source == "gsm8k_sample.jsonl:1"
    assert gold_answer("so 1,000 + 250 = <<1000+250=1250>>1,250\n#### 1,250") == "1250"


@pytest.mark.parametrize(("reply", "answer"), [
    ("3 + 4 = 7, then 7 * 2 = 14.\n#### 14", "14"),
    ("#### 12 is wrong, fixed:\n#### $1,250.00", "1250"),
    ("So the answer is $18.", "18"),
    ("The answer is: -2.50 dollars, not 7.", "-2.5"),
    ("She has 5 apples and buys 3 more, 8 apples", "8"),
    ("I cannot tell.", None),
])
def test_kb_extract_answer_from_model_output(reply, answer):
    assert extract_answer(reply) == answer


def test_kb_problem_file_errors_name_file_and_line(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_problems(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?", "answer": "#### 3"}\n{"question": "r?", "answer": "x"}\n')
    with pytest.raises(InputError, match=re.escape(f"{bad}:2") + r".*#### N"):
        load_problems(bad)
    bad.write_text('{"question": "q?", "answer": "#### 3"}\n{oops\n')
    with pytest.raises(InputError, match=re.escape(f"{bad}:2: not valid JSON")):
        load_problems(bad)


def test_kb_split_is_disjoint_and_independent_of_order(problems):
    train, test = split_problems(problems, held_out=0.5, seed=0)
    assert train and test and not {p.id for p in train} & {p.id for p in test}
    assert len(train) + len(test) == len(problems)
    again_train, _ = split_problems(problems[::-1], held_out=0.5, seed=0)
    assert {p.id for p in again_train} == {p.id for p in train}
    assert split_problems(problems, held_out=0.0)[1] == []
    assert split_problems(problems, held_out=1.0)[0] == []


# -- building the knowledge base -----------------------------------------------------------------

def test_kb_build_teaches_only_the_wrong_answers(problems, each_store_uri):
    subset = problems[:6]
    with open_store(each_store_uri) as store:
        report, student, teacher = _build(subset, store, right={0, 3})
        entries = load_entries(store)
        links = entry_links(store)
        concept_types = store.query("MATCH (e:Entity) RETURN DISTINCT e.type AS t").rows
    assert (report.solved, report.correct, report.wrong) == (6, 2, 4)
    assert len(student.requests) == 6 and len(teacher.requests) == 4
    wrong = [subset[i] for i in (1, 2, 4, 5)]
    for request, problem in zip(teacher.requests, wrong, strict=True):
        text = request.messages[-1].content
        assert problem.question in text and f"correct answer is {problem.answer}" in text
        assert f"final answer was {int(problem.answer) + 1}" in text and "<<" not in text
    assert report.entries_written == 4 and len(entries) == 4
    assert {e.problem for e in entries} == {p.question for p in wrong}
    entry = next(e for e in entries if "ducks" not in e.problem and "$" in e.problem)
    assert entry.summary == "Check every step about money." and entry.concepts == [
        "Money", "Arithmetic"]
    assert (entry.teacher, entry.student, entry.prompt_version) == (
        "teacher-70b", "student-135m", "nesycd.teacher.v1")
    assert entry.gold_answer != entry.student_answer and entry.source.startswith("gsm8k_sample")
    assert len(links) == 8 and {name for _, name in links} >= {"Money", "Arithmetic"}
    assert concept_types == [["CONCEPT"]]


def test_kb_build_records_unusable_replies_and_teaches_nothing_for_them(problems,
                                                                       each_store_uri):
    subset = problems[:3]
    student = FakeLLM([LLMError("HTTP 500: boom"), "#### 1", "#### 1"], model="student")
    # the first mistake's reply and its repair are not JSON; the second's is fine
    teacher = FakeLLM(["not json", _teacher_reply, "still not json"], model="teacher")
    with open_store(each_store_uri) as store:
        report = build_kb(_managed(student), _managed(teacher), subset, store)
        assert count_entries(store) == 1
    assert report.wrong == 2 and len(report.student_failures) == 1
    assert "gsm8k_sample.jsonl:1" in report.student_failures[0]
    assert len(report.teacher_failures) == 1 and "not valid JSON" in report.teacher_failures[0]


def test_kb_build_repairs_a_teacher_that_echoes_the_template(problems, tmp_path):
    student = FakeLLM(["#### 1"], model="student")
    echo = json_reply(summary="...", knowledge="...", concepts=["..."])
    fixed = json_reply(summary="Add the parts.", knowledge="Total = sum.", concepts=["...",
                                                                                   "Sum"])
    teacher = FakeLLM([echo, fixed], model="teacher")
    with open_store(str(tmp_path / "store")) as store:
        report = build_kb(_managed(student), _managed(teacher), problems[1:2], store)
        [entry] = load_entries(store)
    assert report.teacher_failures == [] and len(teacher.requests) == 2
    assert "not a placeholder" in teacher.requests[1].messages[-1].content
    assert (entry.summary, entry.concepts) == ("Add the parts.", ["Sum"])


def test_kb_rebuild_is_idempotent_and_resume_skips_known_problems(problems, each_store_uri):
    with open_store(each_store_uri) as store:
        _build(problems[:4], store, right={0})
        first = load_entries(store)
        counts = store.counts()
        _build(problems[:4], store, right={0})
        assert load_entries(store) == first and store.counts() == counts
        assert len(entry_links(store)) == 2 * len(first)
        report, student, teacher = _build(problems[:6], store, right={0, 4}, resume=True)
        assert report.skipped == 3 and len(student.requests) == 3  # 0, 4 and 5
        assert len(teacher.requests) == 1 and count_entries(store) == 4


def test_kb_export_import_round_trip_into_a_fresh_store(problems, each_store_uri, tmp_path):
    first, second = tmp_path / "kb.jsonl", tmp_path / "again.jsonl"
    with open_store(each_store_uri) as store:
        _build(problems[:5], store, right={2})
        assert export_kb(store, first) == 4
        links = entry_links(store)
    with open_store(str(tmp_path / "fresh")) as fresh:
        assert import_kb(fresh, first) == 4
        export_kb(fresh, second)
        assert entry_links(fresh) == links
        assert import_kb(fresh, first) == 4 and count_entries(fresh) == 4
    assert second.read_bytes() == first.read_bytes()
    line = json.loads(first.read_text().splitlines()[0])
    assert list(line)[:4] == ["id", "problem", "summary", "knowledge"]


def test_kb_import_reports_every_bad_line_and_writes_nothing(tmp_path):
    good = KnowledgeEntry(problem="p", summary="s", knowledge="k", concepts=["c"])
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join([
        good.model_dump_json(), "{oops", json.dumps({"problem": "p", "knowledge": "k"}),
        good.model_dump_json(), json.dumps({"problem": "p", "summary": "s", "knowledge": "k",
                                            "extra": 1})]) + "\n")
    with open_store(str(tmp_path / "store")) as store:
        with pytest.raises(InputError) as caught:
            import_kb(store, path)
        assert count_entries(store) == 0
    message = str(caught.value)
    assert "4 bad lines" in message and "nothing was imported" in message
    assert f"{path}:2: not valid JSON" in message
    assert f"{path}:3: summary: Field required" in message
    assert f"{path}:4: id {good.id} is also on line 1" in message
    assert f"{path}:5: extra: Extra inputs are not permitted" in message


def test_kb_edited_entry_relinks_its_concepts(tmp_path):
    entry = KnowledgeEntry(problem="p", summary="s", knowledge="k", concepts=["Ratio", "Sum"])
    with open_store(str(tmp_path / "store")) as store:
        save_entries(store, [entry])
        edited = entry.model_copy(update={"concepts": ["ratio", "Percent"]})
        save_entries(store, [edited], keep_created=False)
        # "ratio" normalises to the entity "Ratio" made first; "Sum" is no longer linked
        assert sorted(name for _, name in entry_links(store)) == ["Percent", "Ratio"]


def test_kb_works_on_a_store_made_before_the_kb_existed(tmp_path):
    import ladybug

    from kgx.graphdb import ladybug_queries
    from kgx.graphdb.ladybug_store import DB_FILE
    from kgx.testing.graphs import ada_batch

    path = tmp_path / "old"
    path.mkdir()
    db = ladybug.Database(str(path / DB_FILE))
    connection = ladybug.Connection(db)
    for statement in ladybug_queries.schema_statements():
        if "KnowledgeEntry" not in statement and "KB_ABOUT" not in statement:
            connection.execute(statement)
    connection.close()
    db.close()
    with open_store(str(path)) as store:
        store.upsert(ada_batch())
        before = store.counts()
        save_entries(store, [KnowledgeEntry(problem="p", summary="s", knowledge="k",
                                            concepts=["Ada Lovelace"])])
        assert count_entries(store) == 1 and store.counts()["Entity"] == before["Entity"] + 1


# -- retrieval and the student with the knowledge base -------------------------------------------

TOPICS = {
    "eggs": ("A hen lays 6 eggs a day and the farmer sells a dozen eggs for $3.",
             "Sell only the eggs left after eating and baking.", ["eggs", "selling"]),
    "fabric": ("A dress takes 3 yards of silk and half as much lace.",
               "Half that much means divide the first amount by two.", ["fractions"]),
    "profit": ("Tom buys a car for $5,000, repairs it and sells it for 40% more.",
               "Profit is the selling price minus everything spent.", ["profit", "percent"]),
    "speed": ("A runner does 4 laps of 400 meters, 3 times a week.",
              "Multiply laps, distance per lap and sessions.", ["multiplication", "distance"]),
}


@pytest.fixture(scope="module")
def topic_entries() -> list[KnowledgeEntry]:
    return [KnowledgeEntry(problem=problem, summary=summary, knowledge=f"About {name}.",
                           concepts=concepts)
            for name, (problem, summary, concepts) in TOPICS.items()]


@pytest.mark.parametrize("method", ["bm25", "dense"])
def test_kb_index_top3_returns_the_relevant_entry(topic_entries, problems, method):
    index = KBIndex(topic_entries, method)
    found = index.search_many([problems[0].question, problems[1].question,
                               problems[2].question, problems[3].question], k=3)
    expected = [topic_entries[i].id for i in range(4)]  # ducks, robe, house, sprints
    assert [hits[0].entry.id for hits in found] == expected
    assert all(len(hits) == 3 for hits in found)
    assert all(hits[0].score >= hits[1].score >= hits[2].score for hits in found)


def test_kb_index_refuses_an_empty_kb():
    with pytest.raises(InputError, match="kgx kb build"):
        KBIndex([], "bm25")


def test_kb_entries_appear_in_the_student_prompt(topic_entries, problems):
    student = FakeLLM(["#### 1", "#### 18"])
    plain, helped = solve(_managed(student), [problems[0]] * 2, [[], topic_entries[:2]])
    without, with_notes = (r.messages[-1].content for r in student.requests)
    assert "Notes" not in without and without.endswith(f"Question: {problems[0].question}"
                                                         "\nAnswer:")
    assert "1. Lesson (eggs, selling): Sell only the eggs left" in with_notes
    assert "Knowledge: About fabric." in with_notes
    assert with_notes.index("Knowledge: About fabric.") < with_notes.index(problems[0].question)
    assert (plain.correct, helped.correct) == (False, True)
    assert helped.entry_ids == (topic_entries[0].id, topic_entries[1].id)


def test_kb_evaluate_compares_with_and_without_and_skips_kb_problems(problems, topic_entries,
                                                                    tmp_path):
    def reply(request: LLMRequest) -> str:  # right only when the prompt carries notes
        problem = next(p for p in problems if p.question == _question(request))
        return f"#### {problem.answer if 'Notes' in request.messages[-1].content else 0}"

    built_from = KnowledgeEntry(problem=problems[4].question, summary="s", knowledge="k")
    with open_store(str(tmp_path / "store")) as store:
        save_entries(store, [*topic_entries, built_from])
        report = evaluate_kb(_managed(FakeLLM([reply] * 8)), problems[:5], store, k=3)
        top3 = KBIndex(load_entries(store)).search(problems[0].question, 3)
    assert (report.n, report.excluded, report.kb_entries) == (4, 1, 5)
    assert (report.accuracy_without, report.accuracy_with, report.delta) == (0.0, 1.0, 1.0)
    assert problems[4].id not in {r.id for r in report.per_problem}
    first = report.per_problem[0]
    assert first.entry_ids == [hit.entry.id for hit in top3]
    assert first.answer_without == "0" and first.answer_with == first.gold == "18"


def test_kb_cli_errors_say_what_to_do(runner, tmp_path):
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["kb", "import", str(tmp_path / "none.jsonl"), "--store", store])
    assert isinstance(result.exception, InputError) and "does not exist" in str(result.exception)
    result = runner.invoke(app, ["kb", "export", str(tmp_path / "kb.jsonl"), "--store", store])
    assert "no kgx store" in str(result.exception)
    with open_store(store):
        pass
    result = runner.invoke(app, ["kb", "query", "How many eggs?", "--store", store])
    assert isinstance(result.exception, InputError)
    assert "is empty" in str(result.exception) and "kgx kb build" in str(result.exception)
    result = runner.invoke(app, ["kb", "query", "x", "--store", store, "--method", "tfidf"])
    assert result.exit_code == 2 and "bm25" in result.output and "dense" in result.output


# -- the real thing: SmolLM2-135M behind llama.cpp's OpenAI-compatible server ---------------------

def _ok(runner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_kb_cli_build_query_eval_with_a_real_server(runner, cache_env, llama_server, tmp_path,
                                                   topic_entries):
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    store = str(tmp_path / "store")
    output = _ok(runner, "kb", "build", str(FIXTURE), "--student", spec, "--teacher", spec,
                 "--store", store, "--limit", "3", "--llm-max-tokens", "48",
                 "--teacher-max-tokens", "160", "--llm-concurrency", "2")
    counts = re.search(r"3 problems: 0 already in the KB, 3 solved, (\d) right, (\d) wrong; "
                       r"(\d) entries written", output)
    assert counts, output
    right, wrong, written = map(int, counts.groups())
    assert right + wrong <= 3 and written <= wrong
    assert "student: LLM usage: 3 calls" in output
    with open_store(store, read_only=True) as graph:
        built = load_entries(graph)
    assert len(built) == written and all(e.teacher == llama_server.model for e in built)
    again = _ok(runner, "kb", "build", str(FIXTURE), "--student", spec, "--teacher", spec,
                "--store", store, "--limit", "3", "--llm-max-tokens", "48",
                "--teacher-max-tokens", "160", "--resume")
    assert f"3 problems: {written} already in the KB" in again

    hand = tmp_path / "hand.jsonl"
    hand.write_text("".join(e.model_dump_json() + "\n" for e in topic_entries))
    assert "4 entries imported" in _ok(runner, "kb", "import", str(hand), "--store", store)
    shown = _ok(runner, "kb", "query", TOPICS["eggs"][0], "--store", store, "--answer",
                "--student", spec, "--llm-max-tokens", "48")
    assert shown.startswith("1. kb_") and shown.count("   summary: ") == 3
    assert "Sell only the eggs left" in shown.split("2. kb_")[0]
    assert f"student ({llama_server.model}), given 3 entries:" in shown and "answer: " in shown

    out = tmp_path / "report"
    table = _ok(runner, "eval", "kb", str(FIXTURE), "--student", spec, "--store", store,
                "--limit", "3", "--out", str(out), "--llm-max-tokens", "48")
    assert "| student | accuracy without KB | accuracy with KB | delta | n |" in table
    report = json.loads((out / "kb.json").read_text())
    assert (out / "kb.md").read_text() in table
    assert report["n"] == 3 and report["excluded"] == 0 and len(report["per_problem"]) == 3
    assert report["kb_entries"] == written + 4
    assert all(len(r["entry_ids"]) == 3 and r["reply_with"] for r in report["per_problem"])
    assert report["delta"] == pytest.approx(report["accuracy_with"] - report["accuracy_without"])
