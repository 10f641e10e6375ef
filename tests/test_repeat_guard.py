"""The repeat guard: a JSON reply's top-level lists end at their first repeated item."""

from __future__ import annotations

import json

import pytest

from kgx.llm.repeat_guard import RepeatGuard, ReplyTracker

TOKENS = ['{"entities":[', '"A"', '"B"', ",", "]", ',"triples":[', '["A","is","B"]', "}",
          '"],', '"', "A", "Edict", " of", " Milan", '",', '"]', ' ,']


def _tracker(text: str) -> ReplyTracker:
    tracker = ReplyTracker()
    tracker.feed(text)
    return tracker


@pytest.mark.parametrize(("text", "repeat"), [
    ('{"entities":["A","B","A"', True),
    ('{"entities":["A","B","C"', False),
    ('{"entities":["A","B","A', False),         # still inside the string
    ('{"entities":["A, B","A"', False),          # a comma inside a string is not a separator
    ('{"entities":["A"],"triples":["A"', False),  # a new list starts with nothing seen
    ('{"entities":["A"],"triples":[["A","is","B"],["A","is","B"]', True),
    ('{"entities":["A"],"triples":[["A","is","A"]', False),  # a triple's parts may repeat
    ('{"entities":["say \\"A\\"","say \\"A\\""', True),         # escaped quotes
])
def test_tracker_sees_a_repeat_before_the_comma(text, repeat):
    assert _tracker(text).repeat_before_comma() is repeat


def test_guard_knows_what_each_comma_token_closes_first():
    guard = RepeatGuard(TOKENS)
    assert guard.prefix_of == {3: "", 5: "", 8: '"]', 14: '"', 16: " "}
    assert guard.closing_tokens['"'] == [8, 15] and guard.closing_tokens[""] == [4]


def _step(processor, ids: list[list[int]], favourite: int):
    torch = pytest.importorskip("torch")
    scores = torch.zeros((len(ids), len(TOKENS)))
    scores[:, favourite] = 10.0
    return processor(torch.tensor(ids), scores)


def _allowed(scores, row: int = 0) -> list[int]:
    return [i for i, value in enumerate(scores[row].tolist()) if value != -float("inf")]


def test_processor_closes_the_list_instead_of_a_comma_after_a_repeat():
    guard = RepeatGuard(TOKENS)
    processor = guard.for_rows(TOKENS)
    _step(processor, [[7, 7], [7, 7], [7, 7]], favourite=3)
    rows = [[7, 7, 0, 1, 3, 2, 3, 1],   # {"entities":["A","B","A"  and a comma is best
            [7, 7, 0, 1, 3, 2, 3, 2],   # {"entities":["A","B","B"
            [7, 7, 0, 1, 3, 2, 3, 7]]   # no repeat
    scores = _step(processor, rows, favourite=3)
    assert _allowed(scores, 0) == _allowed(scores, 1) == [4]  # only "]" is left
    assert scores[2, 3] == 10.0 and processor.closed == 2


def test_processor_leaves_a_row_alone_when_the_model_goes_on_with_the_item():
    processor = RepeatGuard(TOKENS).for_rows(TOKENS)
    _step(processor, [[7]], favourite=10)
    scores = _step(processor, [[7, 0, 1, 3, 9, 10]], favourite=10)  # "A","A… then more text
    assert scores[0, 10] == 10.0 and processor.closed == 0


def test_processor_closes_at_a_merged_quote_and_comma_token():
    processor = RepeatGuard(TOKENS).for_rows(TOKENS)
    _step(processor, [[7]], favourite=14)
    # {"entities":["Edict of Milan","Edict of Milan  : '",' would close and repeat it at once
    reply = [0, 9, 11, 12, 13, 14, 9, 11, 12, 13]
    scores = _step(processor, [[7, *reply]], favourite=14)
    assert _allowed(scores) == [8, 15] and processor.closed == 1


def test_processor_closes_an_object_list_where_no_token_writes_the_closers_and_bracket():
    torch = pytest.importorskip("torch")
    vocab = ['{"entities":[', '{"n":"', "A", '"},', '"}', "]", "}", ","]
    guard = RepeatGuard(vocab)
    assert guard.closing_tokens['"}'] == [4]  # no '"}]' token: '"}' alone, then the comma
    processor = guard.for_rows(vocab)

    def step(ids, favourite):
        scores = torch.zeros((1, len(vocab)))
        scores[0, favourite] = 10.0
        return _allowed(processor(torch.tensor([ids]), scores))

    step([6], favourite=0)
    assert step([6, 0, 1, 2, 3, 1, 2], favourite=3) == [4]  # [{"n":"A"},{"n":"A  then '"},'
    assert step([6, 0, 1, 2, 3, 1, 2, 4], favourite=7) == [5]  # ... '"}' then ',' -> ']'
    assert processor.closed == 2


def test_processor_leaves_the_scores_when_the_grammar_cannot_close_the_list():
    torch = pytest.importorskip("torch")
    processor = RepeatGuard(TOKENS).for_rows(TOKENS)
    processor(torch.tensor([[7]]), torch.zeros((1, len(TOKENS))))
    scores = torch.full((1, len(TOKENS)), -float("inf"))
    scores[0, 3] = 1.0
    out = processor(torch.tensor([[7, 0, 1, 3, 1]]), scores)
    assert _allowed(out) == [3] and processor.closed == 0


def test_tracker_reads_a_whole_student_reply():
    reply = {"entities": ["Ada", "Babbage", "Ada"], "triples": [["Ada", "met", "Babbage"]]}
    text = json.dumps(reply, separators=(",", ":"))
    tracker = _tracker(text[:text.index("]")])
    assert tracker.repeat_before_comma()
    assert _tracker(text).stack == []


@pytest.mark.slow  # loads SmolLM2 in transformers
def test_transformers_backend_with_the_guard_stops_a_real_loop():
    """The bundled SmolLM2, told to repeat itself, stops at the first repeat with the guard."""
    pytest.importorskip("transformers")
    from pydantic import BaseModel, Field

    from kgx.llm.spec import bundled_gguf
    from kgx.llm.transformers_llm import TransformersLLM
    from kgx.llm.types import LLMRequest, SamplingParams

    class Names(BaseModel):
        entities: list[str] = Field(min_length=1)

    request = LLMRequest.from_prompt('Write the name "Paris" twenty times.',
                                     system='Reply with JSON: {"entities": [names]}',
                                     response_model=Names, key="loop",
                                     params=SamplingParams(max_tokens=80))
    replies = {}
    for guard in (False, True):
        backend = TransformersLLM(bundled_gguf(), json_separators=(",", ":"), repeat_guard=guard)
        [replies[guard]] = backend.complete([request])
    unguarded, guarded = replies[False].text, replies[True].text
    assert unguarded.count('"Paris"') > 3  # the loop the guard is for
    assert json.loads(guarded) == {"entities": ["Paris", "Paris"]}
    assert "+guard" in TransformersLLM(bundled_gguf(), repeat_guard=True).model


LINE_TOKENS = ["1", " Ada", "\n", "2", " Bob", "---", "|", "met", "<eos>", "3", " ada"]
# ids:          0    1       2     3    4       5      6    7      8        9    10


def _line_step(processor, ids: list[int], favourite: int):
    torch = pytest.importorskip("torch")
    scores = torch.zeros((1, len(LINE_TOKENS)))
    scores[0, favourite] = 10.0
    return processor(torch.tensor([ids]), scores)


def test_line_guard_moves_a_repeated_entity_line_on_to_the_triples_then_ends():
    from kgx.llm.line_guard import LineGuard

    guard = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8])
    processor = guard.for_rows()
    prompt = [7]
    _line_step(processor, prompt, favourite=0)
    entities = [0, 1, 2, 3, 4, 2, 9, 10, 2]  # 1 Ada / 2 Bob / 3 ada: a repeat, ignoring case
    scores = _line_step(processor, prompt + entities, favourite=0)
    assert _allowed(scores) == [5] and processor.forced == 1  # "---" instead of "4 ..."
    scores = _line_step(processor, prompt + entities + [5], favourite=0)
    assert _allowed(scores) == [2]  # then its newline
    triple = [0, 6, 7, 6, 3, 2]  # 1|met|2
    scores = _line_step(processor, prompt + entities + [5, 2] + triple, favourite=0)
    assert 0 in _allowed(scores) and len(_allowed(scores)) == len(LINE_TOKENS)  # free again
    scores = _line_step(processor, prompt + entities + [5, 2] + triple * 2, favourite=0)
    assert _allowed(scores) == [8] and processor.forced == 2  # a repeated triple ends the reply


def test_line_guard_caps_a_section():
    from kgx.llm.line_guard import LineGuard

    guard = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8], max_lines=2)
    processor = guard.for_rows()
    _line_step(processor, [7], favourite=0)
    scores = _line_step(processor, [7, 0, 1, 2, 3, 4, 2], favourite=0)
    assert _allowed(scores) == [5]


def test_llamacpp_line_guard_works_on_numpy_rows():
    np = pytest.importorskip("numpy")
    from kgx.llm.line_guard import LineGuard, LineGuardNumpy

    processor = LineGuardNumpy(LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8]))
    processor(np.array([7]), np.zeros(len(LINE_TOKENS), dtype=np.float32))
    out = processor(np.array([7, 0, 1, 2, 0, 1, 2]), np.zeros(len(LINE_TOKENS), dtype=np.float32))
    assert out.shape == (len(LINE_TOKENS),)
    assert [i for i, v in enumerate(out) if v != -np.inf] == [5]


def test_llamacpp_line_guard_forks_keep_their_own_state():
    """A beam search forks a reply's guard: each fork reads its own tokens from there on."""
    np = pytest.importorskip("numpy")
    from kgx.llm.line_guard import LineGuard, LineGuardNumpy

    def allowed(processor, ids):
        out = processor(np.array(ids), np.zeros(len(LINE_TOKENS), dtype=np.float32))
        return [i for i, v in enumerate(out) if v != -np.inf]

    processor = LineGuardNumpy(LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8]))
    allowed(processor, [7])
    allowed(processor, [7, 0, 1, 2])  # 1 Ada
    fork = processor.fork()
    assert allowed(processor, [7, 0, 1, 2, 0, 1, 2]) == [5]  # Ada again: on to the triples
    assert len(allowed(fork, [7, 0, 1, 2, 3, 4, 2])) == len(LINE_TOKENS)  # 2 Bob: free
    assert allowed(fork, [7, 0, 1, 2, 3, 4, 2, 0, 1, 2]) == [5]  # its own repeat, later


@pytest.mark.parametrize(("line", "ok"), [
    ("1", True), ("12", True), ("1 Ada", True), ("1 ada lov", True), ("1 Ada Lovelace\n", True),
    ("1 Ada ", True),            # a word boundary that the passage has
    ("1 Babbage ", False),       # "babbage " is not in the passage: a full stop follows it
    ("1 Babbage\n", True), ("1 Bob", False), ("1 Bob\n", False), ("1|Ada", False),
    ("1.Ada", False), ("1 \n", False), ("---", True), ("--", True), ("", True), ("Ada", False),
    ("---\n", True), ("\n", True),   # the separator, exactly; a blank line
    ("- ", False), ("-\n", False), ("-- -", False),  # a separator that left its shape
])
def test_copy_constraint_reads_entity_lines(line, ok):
    from kgx.llm.line_guard import _copyable

    assert _copyable(line, "ada lovelace met charles babbage. ada lovelace.") is ok


def test_copy_constraint_goes_forward_through_the_passage_and_never_lists_twice():
    from kgx.llm.line_guard import _copyable

    source = "ada met bob in paris. bob liked paris."
    assert _copyable("2 Bob\n", source, at=0, listed={"ada"})
    assert not _copyable("2 Ada\n", source, at=0, listed={"ada"})      # listed already
    assert not _copyable("3 Ada\n", source, at=7, listed={"bob"})      # before Bob: going back
    assert _copyable("3 Paris\n", source, at=7, listed={"ada", "bob"})
    assert _copyable("4 Bob lik", source, at=15, listed=set())         # a later mention...
    assert not _copyable("4 Bob\n", source, at=15, listed=set())       # ...but Bob came first


def test_copy_constraint_holds_names_to_eight_words():
    from kgx.llm.line_guard import _copyable

    source = "one two three four five six seven eight nine ten"
    assert _copyable("1 one two three four five six seven eight", source)
    assert not _copyable("1 one two three four five six seven eight nine", source)


def test_copy_constraint_takes_the_best_token_that_keeps_a_span():
    from kgx.llm.line_guard import LineGuard

    guard = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8])
    processor = guard.for_rows(copy_from=["Ada met someone."])
    _line_step(processor, [7], favourite=0)
    torch = pytest.importorskip("torch")
    scores = torch.zeros((1, len(LINE_TOKENS)))
    scores[0, 4], scores[0, 1] = 10.0, 9.0    # " Bob" is best, " Ada" second
    out = processor(torch.tensor([[7, 0]]), scores)
    assert _allowed(out) == [1] and processor.held == 1  # "1 Bob" is no span: "1 Ada" it is
    scores = torch.zeros((1, len(LINE_TOKENS)))
    scores[0, 2] = 10.0                       # the newline after "1 Ada" is the best and fine
    out = processor(torch.tensor([[7, 0, 1]]), scores)
    assert 4 in _allowed(out) and processor.held == 1  # the row is left alone
    free = guard.for_rows()                   # no copy_from: no constraint
    _line_step(free, [7], favourite=0)
    assert 4 in _allowed(_line_step(free, [7, 0], favourite=4))


def test_copy_constraint_leaves_the_triples_alone():
    from kgx.llm.line_guard import LineGuard

    processor = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8]).for_rows(
        copy_from=["Ada."])
    _line_step(processor, [7], favourite=0)
    scores = _line_step(processor, [7, 0, 1, 2, 5, 2, 0, 6], favourite=4)  # 1 Ada / --- / 1|
    assert len(_allowed(scores)) == len(LINE_TOKENS) and processor.held == 0


def test_copy_constraint_holds_a_real_model_to_the_passage():
    """The bundled SmolLM2 through transformers, with the prompt v2 replies use: every entity
    line it writes under the constraint is a span of the passage."""
    pytest.importorskip("torch")
    from kgx.distill.format import parse_lines, student_format
    from kgx.llm.spec import bundled_gguf
    from kgx.llm.transformers_llm import TransformersLLM
    from kgx.llm.types import LLMRequest, SamplingParams

    text = "Marie Curie was born in Warsaw and won the Nobel Prize in Physics in 1903."
    system, user = student_format("v3").messages(text)
    request = LLMRequest.from_prompt(user["content"], system=system["content"] + (
        " Start with: 1 Marie Curie"), params=SamplingParams(max_tokens=60))
    backend = TransformersLLM(bundled_gguf(), repeat_guard=True, copy_spans=True)
    [reply] = backend.complete([request])
    graph = parse_lines(reply.text)
    assert "+copy" in backend.model
    assert graph.entities, reply.text
    assert all(name.casefold() in text.casefold() for name in graph.entities), reply.text
    starts = [text.casefold().find(name.casefold()) for name in graph.entities]
    assert starts == sorted(starts), reply.text


def test_line_guard_ends_a_reply_that_counts_past_the_entity_list():
    from kgx.llm.line_guard import LineGuard

    tokens = ["1", " Ada", "\n", "---", "|", "is", "2", "<eos>", "9"]
    guard = LineGuard(tokens, separator_ids=[3, 2], eos_ids=[7], numbered_ends=True)
    processor = guard.for_rows()
    torch = pytest.importorskip("torch")
    processor(torch.tensor([[5]]), torch.zeros((1, len(tokens))))
    reply = [0, 1, 2, 3, 2, 0, 4, 5, 4, 0, 2]          # 1 Ada / --- / 1|is|1
    out = processor(torch.tensor([[5, *reply]]), torch.zeros((1, len(tokens))))
    assert torch.isfinite(out).all() and processor.forced == 0
    reply += [0, 4, 5, 4, 8, 2]                       # 1|is|9: there is no entity 9
    out = processor(torch.tensor([[5, *reply]]), torch.zeros((1, len(tokens))))
    assert processor.forced == 1 and [i for i, v in enumerate(out[0]) if v > -1e9] == [7]
    words = LineGuard(tokens, separator_ids=[3, 2], eos_ids=[7]).for_rows()  # v3: 9 is text
    words(torch.tensor([[5]]), torch.zeros((1, len(tokens))))
    words(torch.tensor([[5, *reply]]), torch.zeros((1, len(tokens))))
    assert words.forced == 0


def test_copy_constraint_refuses_names_with_loose_whitespace():
    from kgx.llm.line_guard import _copyable

    source = "ada lovelace worked with charles babbage."
    assert _copyable("1 Ada Lovelace", source) and _copyable("1 Ada ", source)
    assert not _copyable("1 Ada  Lovelace", source)     # two spaces: no span as written
    assert not _copyable("1 Ada\tLovelace", source)
    assert not _copyable("1  Ada", source)


def test_copy_constraint_refuses_bare_numbers_and_counting():
    from kgx.llm.line_guard import _copyable

    source = "ada met bob in 1843."
    assert _copyable("3", source) and not _copyable("3\n", source)  # `3` alone is no entity
    assert not _copyable("100", source)                               # counting, not listing


def test_line_guard_holds_triple_lines_to_three_parts():
    from kgx.llm.line_guard import LineGuard

    processor = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8]).for_rows(
        copy_from=["Ada met Bob."])
    _line_step(processor, [7], favourite=0)
    head = [7, 0, 1, 2, 5, 2]                                     # 1 Ada / ---
    assert 8 in _allowed(_line_step(processor, head, favourite=8))  # may end: no triple yet
    assert 2 not in _allowed(_line_step(processor, [*head, 1], favourite=2))  # `Ada` + newline
    out = _line_step(processor, [*head, 1, 6, 7, 6], favourite=8)   # `Ada|met|` + end
    assert 8 not in _allowed(out) and 6 not in _allowed(out)      # no end, no fourth part
    out = _line_step(processor, [*head, 1, 6, 7, 6, 4], favourite=8)  # `Ada|met| Bob` + end
    assert 8 in _allowed(out)


def test_line_guard_ends_the_entities_near_the_token_budget():
    from kgx.llm.line_guard import LineGuard

    processor = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8]).for_rows(budget=8)
    _line_step(processor, [7], favourite=0)
    assert len(_allowed(_line_step(processor, [7, 0, 1, 2], favourite=3))) > 1  # room left
    assert _allowed(_line_step(processor, [7, 0, 1, 2, 3, 4, 2], favourite=3)) == [5]  # ---


def test_triple_lines_refuse_runs_of_whitespace():
    from kgx.llm.line_guard import _triple_prefix

    assert _triple_prefix("Ada|worked with|Charles Babbage\n", "ada met bob.")
    assert not _triple_prefix("Ada|worked with the \t", None)   # spaces do not count as words
    assert not _triple_prefix("Ada|worked  with", None)


def test_copy_constraint_never_ends_a_reply_inside_the_entity_list():
    """An end-of-text token writes no text, so it once passed as a span and ended replies
    before their triples."""
    from kgx.llm.line_guard import LineGuard

    tokens = [*LINE_TOKENS[:8], "", *LINE_TOKENS[9:]]  # llama.cpp detokenizes the end to ""
    processor = LineGuard(tokens, separator_ids=[5, 2], eos_ids=[8]).for_rows(
        copy_from=["Ada met Bob."])
    _line_step(processor, [7], favourite=0)
    assert 8 not in _allowed(_line_step(processor, [7, 0, 1, 2], favourite=8))  # 1 Ada / <eos>
    assert 8 not in _allowed(_line_step(processor, [7, 0, 1, 2, 0], favourite=8))  # mid-line


def test_list_bias_takes_the_next_entity_over_a_close_separator():
    """At a line start, a next entity line that trails the separator by at most `list_bias`
    goes on the list; a far one, or none without the bias, leaves the model's choice."""
    from kgx.llm.line_guard import LineGuard

    torch = pytest.importorskip("torch")

    def at_line_start(bias: float, separator: float, number: float):
        processor = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8],
                              list_bias=bias).for_rows(copy_from=["Ada met Bob."])
        _line_step(processor, [7], favourite=0)
        scores = torch.zeros((1, len(LINE_TOKENS)))
        scores[0, 5], scores[0, 3] = separator, number  # "---" against "2" (for "2 Bob")
        return int(processor(torch.tensor([[7, 0, 1, 2]]), scores)[0].argmax())

    assert at_line_start(0.0, 10.0, 9.0) == 5      # no bias: the list ends
    assert at_line_start(1.5, 10.0, 9.0) == 3      # within the bias: "2" goes on
    assert at_line_start(1.5, 10.0, 8.0) == 5      # too far behind: the list ends
    assert at_line_start(1.5, 9.0, 10.0) == 3      # the model's own choice


def test_list_bias_takes_the_next_triple_over_a_close_end():
    from kgx.llm.line_guard import LineGuard

    torch = pytest.importorskip("torch")

    def after_a_triple(bias: float, end: float, subject: float):
        processor = LineGuard(LINE_TOKENS, separator_ids=[5, 2], eos_ids=[8],
                              list_bias=bias).for_rows(copy_from=["Ada met Bob."])
        _line_step(processor, [7], favourite=0)
        reply = [0, 1, 2, 5, 2, 1, 6, 7, 6, 4, 2]  # 1 Ada / --- / Ada|met|Bob
        scores = torch.zeros((1, len(LINE_TOKENS)))
        scores[0, 8], scores[0, 1] = end, subject  # the end against " Ada" (a span)
        return int(processor(torch.tensor([[7, *reply]]), scores)[0].argmax())

    assert after_a_triple(0.0, 10.0, 9.0) == 8      # no bias: the reply ends
    assert after_a_triple(1.5, 10.0, 9.0) == 1      # within the bias: another triple
    assert after_a_triple(1.5, 10.0, 8.0) == 8      # too far behind: the reply ends


def test_triple_subjects_start_and_end_at_word_boundaries():
    from kgx.llm.line_guard import _triple_prefix

    source = "published by thames & hudson since 1975."
    assert _triple_prefix("T|", source)                      # a span, inside a word
    assert not _triple_prefix("T|", source, words=True)      # ...so no subject
    assert _triple_prefix("T", source, words=True)           # "Thames" may still follow
    assert _triple_prefix("Thames|", source, words=True)
    assert _triple_prefix("Thames & Hudson|is|a\n", source, words=True)
    assert not _triple_prefix("hames", source, words=True)   # starts inside "thames"
    assert _triple_prefix("1975|", source, words=True)       # the full stop is a boundary


TRIPLE_TOKENS = ["1", " Ada", "\n", "---", "|", "met", "<eos>", " Bob", " Zed", " Ad"]
# ids:            0    1       2     3      4    5      6        7       8       9
TRIPLE_HEAD = [5, 0, 1, 2, 3, 2, 1, 4, 5, 4]  # prompt / 1 Ada / --- / Ada|met|


def _object_step(object_spans: str, line: list[int], scores: dict[int, float],
                 source: str = "Ada met Bob."):
    torch = pytest.importorskip("torch")
    from kgx.llm.line_guard import LineGuard

    processor = LineGuard(TRIPLE_TOKENS, separator_ids=[3, 2], eos_ids=[6],
                          object_spans=object_spans).for_rows(copy_from=[source])
    processor(torch.tensor([[5]]), torch.zeros((1, len(TRIPLE_TOKENS))))
    row = torch.full((1, len(TRIPLE_TOKENS)), -5.0)
    for token, score in scores.items():
        row[0, token] = score
    return int(processor(torch.tensor([[*TRIPLE_HEAD, *line]]), row)[0].argmax()), processor


def test_object_spans_overrule_an_object_the_passage_lacks():
    chosen, processor = _object_step("hold", [], {8: 10.0, 7: 9.0})  # " Zed" best, " Bob" next
    assert chosen == 7 and processor.held == 1
    assert _object_step("off", [], {8: 10.0, 7: 9.0})[0] == 8         # off: the model's choice
    assert _object_step("hold", [9], {2: 10.0, 1: 9.0})[0] != 2       # "Ad" ends inside "Ada"


def test_object_spans_are_soft(monkeypatch):
    """When none of the top tokens keeps a span, the row keeps its own choice."""
    import kgx.llm.line_guard as line_guard

    monkeypatch.setattr(line_guard, "COPY_CANDIDATES", 1)
    chosen, processor = _object_step("hold", [], {8: 10.0, 7: 9.0})
    assert chosen == 8 and processor.held == 0


def test_started_object_spans_hold_only_an_object_begun_as_a_span():
    assert _object_step("started", [], {8: 10.0, 7: 9.0})[0] == 8      # not begun: left alone
    assert _object_step("started", [7], {8: 10.0, 2: 9.0})[0] == 2     # "Bob Zed": overruled
    with pytest.raises(ValueError, match="object_spans"):
        _object_step("always", [], {})


def test_a_closed_subject_does_not_block_the_rest_of_its_line():
    """Where no top token could go on, the guard closed the subject off a span: the checks
    that follow take it as written instead of failing every token."""
    from kgx.llm.line_guard import _triple_prefix

    source = "published by thames & hudson since 1975."
    assert not _triple_prefix("T|is", source, words=True)
    assert _triple_prefix("T|is", source, words=True, subject=False)
    assert _triple_prefix("T|is|1975\nThames|", source, words=True, subject=False)
    assert not _triple_prefix("T|is|1975\nT|", source, words=True, subject=False)  # next line


SEPARATOR_TOKENS = ["1", " Ada", "\n", "-", " ", "--", "<eos>", "---", "<prompt>"]
# ids:               0    1       2     3    4    5      6        7      8


def test_copy_constraint_finishes_a_separator_begun_instead_of_a_dash_line(monkeypatch):
    """`-` then ` `: a `- ` line fits no section (two test replies went `6 Name, / - / - /
    ---`); the guard takes `--` among the best tokens, or forces it when none is there."""
    torch = pytest.importorskip("torch")
    import kgx.llm.line_guard as line_guard

    def step(candidates: int) -> tuple[int, list[int]]:
        monkeypatch.setattr(line_guard, "COPY_CANDIDATES", candidates)
        processor = line_guard.LineGuard(SEPARATOR_TOKENS, separator_ids=[7, 2],
                                         eos_ids=[6]).for_rows(copy_from=["Ada met Bob."])
        processor(torch.tensor([[8]]), torch.zeros((1, len(SEPARATOR_TOKENS))))
        scores = torch.zeros((1, len(SEPARATOR_TOKENS)))
        scores[0, 4] = 10.0  # " " is the model's choice after "-"
        chosen = int(processor(torch.tensor([[8, 0, 1, 2, 3]]), scores)[0].argmax())
        return chosen, processor.states[0].forced

    assert step(64)[0] == 5              # "--" from the best tokens: the line is "---"
    assert step(1) == (5, [5, 2])        # none of them fits: "--" and the newline are forced
