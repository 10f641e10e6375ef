"""The graph answerer on small hand-built graphs, with the real MiniLM embedder: each question
kind, abstention, and the grounding check on LLM answers."""

from __future__ import annotations

import pytest

from kgx.graphdb import open_store
from kgx.models import Entity
from kgx.retrieval import RetrievalContext, make_retriever
from kgx.retrieval.ask import AskAnswerer, ask_report, default_answerer, grounded_in
from kgx.retrieval.graph_answer import GraphAnswerer
from kgx.retrieval.questions import question_shape
from kgx.testing.graphs import passages_batch

E = {name: Entity(name=name, type=kind) for name, kind in [
    ("Ada Lovelace", "PERSON"), ("William King", "PERSON"), ("London", "GPE"),
    ("1815", "DATE"), ("1852", "DATE"), ("Charles Babbage", "PERSON"), ("1791", "DATE"),
    ("1871", "DATE"), ("Analytical Engine", "PRODUCT"), ("English", "NORP"),
    ("Paris", "GPE"), ("Marie Curie", "PERSON"), ("Polish", "NORP"), ("1867", "DATE"),
    ("1934", "DATE"), ("Warsaw", "GPE"),
]}
PASSAGES = {
    "ada": ("Ada Lovelace", "Ada Lovelace (1815 - 1852) was an English mathematician born in "
            "London. In 1835 Ada Lovelace married William King.",
            [("Ada Lovelace", "marry", "William King"), ("Ada Lovelace", "born in", "London"),
             ("Ada Lovelace", "born", "1815"), ("Ada Lovelace", "is", "English")]),
    "babbage": ("Charles Babbage", "Charles Babbage (1791 - 1871) was an English polymath. "
                "Charles Babbage designed the Analytical Engine, which had 4 arithmetic units.",
                [("Charles Babbage", "designed", "Analytical Engine"),
                 ("Charles Babbage", "is", "English"), ("Charles Babbage", "born", "1791")]),
    "curie": ("Marie Curie", "Marie Curie (1867 - 1934) was a Polish physicist born in Warsaw "
              "who worked in Paris.",
              [("Marie Curie", "born in", "Warsaw"), ("Marie Curie", "worked in", "Paris"),
               ("Marie Curie", "is", "Polish")]),
}


@pytest.fixture(scope="module")
def answering(tmp_path_factory):
    """(retriever, graph answerer) over the three passages, MiniLM embedder, dense retrieval."""
    uri = str(tmp_path_factory.mktemp("answer") / "store")
    store = open_store(uri)
    store.connect()
    store.upsert(passages_batch(PASSAGES, E, "test.v1"))
    context = RetrievalContext(store)
    retriever = make_retriever("dense", store, context=context)
    retriever.warm_up()
    answerer = GraphAnswerer(context)
    answerer.warm_up()
    yield retriever, answerer
    store.close()


def _answer(answering, question: str, k: int = 3):
    retriever, answerer = answering
    return answerer.answer(question, retriever.retrieve(question, k))


@pytest.mark.parametrize(("question", "answer"), [
    ("Who did Ada Lovelace marry?", "William King"),
    ("Where was Marie Curie born?", "Warsaw"),
    ("Which device did Charles Babbage design?", "Analytical Engine"),
])
def test_entity_questions_are_answered_with_evidence(answering, question, answer):
    found = _answer(answering, question)
    assert found.kind == "entity" and found.answerer == "graph"
    assert found.answer == answer, found
    assert 0 < found.confidence <= 1 and found.passages
    assert any(answer in fact for fact in found.facts)


def test_the_answer_carries_the_path_from_the_question_entity(answering):
    found = _answer(answering, "Who did Ada Lovelace marry?")
    assert found.path == "Ada Lovelace -[marry]-> William King"


def test_when_questions_want_dates_and_how_many_wants_numbers(answering):
    assert question_shape("When was Marie Curie born?").expected == {"DATE"}
    found = _answer(answering, "In what year was Marie Curie born?")
    assert found.best_guess == "1867", found
    found = _answer(answering, "How many arithmetic units did the Analytical Engine have?")
    assert found.best_guess == "4", found


@pytest.mark.parametrize(("question", "answer"), [
    ("Who was born first, Ada Lovelace or Marie Curie?", "Ada Lovelace"),
    ("Who was born later, Charles Babbage or Ada Lovelace?", "Ada Lovelace"),
    ("Who lived longer, Ada Lovelace or Marie Curie?", "Marie Curie"),
    ("Who died first, Marie Curie or Charles Babbage?", "Charles Babbage"),
])
def test_which_of_two_questions_compare_the_years_of_their_passages(answering, question,
                                                                    answer):
    found = _answer(answering, question)
    assert found.kind == "choice" and found.answer == answer, found
    assert found.confidence > 0.5 and len(found.facts) == 2


@pytest.mark.parametrize(("question", "answer"), [
    ("Are Ada Lovelace and Charles Babbage from the same country?", "yes"),
    ("Are Ada Lovelace and Marie Curie from the same country?", "no"),
])
def test_yes_no_questions_compare_the_two_passages(answering, question, answer):
    found = _answer(answering, question)
    assert found.kind == "yes_no" and found.answer == answer, found


def test_it_abstains_when_nothing_fits(answering):
    retriever, answerer = answering
    strict = GraphAnswerer(answerer.context, threshold=0.99)
    found = strict.answer("Who painted the Mona Lisa?",
                          retriever.retrieve("Who painted the Mona Lisa?", 3))
    assert found.answer is None and found.best_guess and "abstained" in found.reason
    assert answerer.answer("Who painted the Mona Lisa?", []).answer is None


class Reply:
    """An LLM answer as `answer_questions` returns it."""

    def __init__(self, answer: str) -> None:
        self.answer, self.error, self.citations = answer, None, [1]


def test_llm_answers_are_grounded_or_replaced(answering):
    retriever, answerer = answering
    question = "Who did Ada Lovelace marry?"
    chunks = retriever.retrieve(question, 3)
    found = answerer.answer(question, chunks)
    ask = AskAnswerer("graph", answerer)
    ask.name = "llm"  # ground() alone; no LLM is called
    assert grounded_in("William King", chunks, answerer).startswith("a span of passage")
    assert grounded_in("Analytical Engine", [], answerer) == "an entity of the graph"
    assert grounded_in("No", [], answerer) == "yes/no"
    assert grounded_in("The Life and Loves of Tschach", chunks, answerer) is None
    kept = ask.ground(Reply("William King"), found, chunks)
    assert kept.answer == "William King" and kept.answerer == "llm"
    replaced = ask.ground(Reply("The Life and Loves of Tschach"), found, chunks)
    assert replaced.answer == "William King" and "fell back to the graph answer" in \
        replaced.grounding
    none = ask.ground(Reply("The Life and Loves of Tschach"),
                      found.model_copy(update={"answer": None}), chunks)
    assert none.answer is None and none.grounding.endswith("abstained")
    loose = AskAnswerer("graph", answerer, grounded=False)
    flagged = loose.ground(Reply("The Life and Loves of Tschach"), found, chunks)
    assert flagged.answer == "The Life and Loves of Tschach"
    assert flagged.grounding.startswith("ungrounded")


def test_default_answerer_follows_the_llm():
    assert default_answerer(None) == "graph"
    assert default_answerer("local") == "graph"
    assert default_answerer("student") == "graph"
    assert default_answerer("student-llamacpp:/x") == "graph"
    assert default_answerer("openai:gpt-4o-mini") == "llm"


def test_ask_report_answers_with_the_graph_by_default(answering):
    retriever, _ = answering
    report = ask_report(retriever, "Who did Ada Lovelace marry?", None, top_k=2)
    assert report["answerer"] == "graph" and report["answer"] == "William King"
    assert report["answer_path"] and report["confidence"] > 0 and not report["abstained"]


def test_the_graph_answers_alike_on_both_stores(each_store_uri):
    """The answerer reads the store's snapshot through Cypher: Neo4j gives the same answer,
    path and facts as the embedded store."""
    with open_store(each_store_uri) as store:
        store.upsert(passages_batch(PASSAGES, E, "test.v1"))
        context = RetrievalContext(store)
        retriever = make_retriever("hipporag2", store, context=context)
        report = ask_report(retriever, "Who did Ada Lovelace marry?", None, top_k=3)
        choice = ask_report(retriever, "Who was born first, Ada Lovelace or Marie Curie?",
                            None, top_k=3)
    assert report["answerer"] == "graph" and report["answer"] == "William King"
    assert report["answer_path"] == "Ada Lovelace -[marry]-> William King"
    assert "Ada Lovelace marry William King" in report["answer_facts"]
    assert choice["answer"] == "Ada Lovelace" and choice["answer_kind"] == "choice"
