"""Continuous batching on llama.cpp (kgx.llm.llamacpp_batch), against the real bundled SmolLM2.

One slot must reproduce llama-cpp-python's own chat completion token for token (same prompt,
stops and logits processor); several slots must keep each reply's processor state apart.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")

from kgx.llm.spec import bundled_gguf
from kgx.llm.types import LLMRequest, SamplingParams

PASSAGES = {
    "Marie Curie was born in Warsaw and won the Nobel Prize in Physics in 1903.": "Marie Curie",
    "Ada Lovelace worked with Charles Babbage on the Analytical Engine in London.":
        "Ada Lovelace",
    "The Danube flows through Vienna, Budapest and Belgrade into the Black Sea.": "Danube",
}
"""Passage -> its first entity, which the untrained model is told to start with."""


def _requests(max_tokens: int = 40) -> list[LLMRequest]:
    from kgx.distill.format import student_format

    fmt = student_format("v3")
    requests = []
    for text, first in PASSAGES.items():
        system, user = fmt.messages(text)
        requests.append(LLMRequest.from_prompt(user["content"],
                                               system=f"{system['content']} Start with: 1 {first}",
                                               params=SamplingParams(max_tokens=max_tokens)))
    return requests


@pytest.fixture(scope="module")
def backend():
    from kgx.llm.llamacpp import LlamaCppLLM

    llm = LlamaCppLLM(bundled_gguf(), n_threads=1, repeat_guard=True, copy_spans=True)
    llm.student_format = "v3"
    yield llm
    llm.close()


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_one_slot_reproduces_the_chat_completion(backend):
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    requests = _requests()
    backend.batch_slots = 1
    sequential = backend.complete(requests)  # llama-cpp-python's create_chat_completion
    decoder = BatchDecoder(backend.generator, slots=1, flash_attn=False)  # as the generator
    try:
        prompts = []
        for request in requests:
            tokens, stop = backend._chat_prompt(request)
            assert len(tokens) == backend.count_prompt_tokens(request)
            prompts.append(BatchPrompt(tokens, 40, backend._line_guard_processor(
                request.messages[-1].content), stop=stop))
        batched = decoder.generate(prompts)
    finally:
        decoder.close()
    assert [r.text for r in batched] == [c.text for c in sequential]
    assert [len(r.tokens) for r in batched] == [c.completion_tokens for c in sequential]
    assert [r.finish_reason for r in batched] == [c.finish_reason for c in sequential]


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_slots_keep_each_reply_to_its_own_passage(backend):
    """Three replies decoded together, two slots (so one waits for a free slot): the copy
    constraint of each reply holds its entity lines to its own passage."""
    from kgx.distill.format import parse_lines

    backend.batch_slots = 2
    replies = backend.complete(_requests(max_tokens=60))
    assert backend._batchers and backend._batchers[0].slots == 2
    for text, reply in zip(PASSAGES, replies, strict=True):
        assert reply.completion_tokens > 0 and reply.finish_reason in ("stop", "length")
        entities = parse_lines(reply.text, numbered_ends=False).entities
        assert entities, reply.text
        assert all(name.casefold() in text.casefold() for name in entities), reply.text


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_log_probs_are_the_models_own(backend):
    """Each reply token's log-prob, taken before the guard masks the logits, equals the
    log-softmax of the scoring model fed the same prompt and reply tokens, also where the
    guard overruled the model's best token."""
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    requests = _requests(max_tokens=24)
    decoder = BatchDecoder(backend.generator, slots=2, flash_attn=False)
    try:
        prompts = [BatchPrompt(backend._chat_prompt(r)[0], 24, backend._line_guard_processor(
            r.messages[-1].content), logprobs=True) for r in requests]
        replies = decoder.generate(prompts)
    finally:
        decoder.close()
    assert _below_best(backend, prompts, replies) > 0  # the guard overruled the model, and
    # the log-probs show it


def _below_best(backend, prompts, replies) -> int:
    """Check each reply's log-probs against the scoring model fed its prompt and reply one
    token at a time (as decoding runs: the same kernels), to 2e-3; how many reply tokens the
    model did not rank first."""
    import numpy as np

    scorer = backend._scoring_model()
    below_best = 0
    for prompt, reply in zip(prompts, replies, strict=True):
        assert "".join(piece for piece, _ in reply.logprobs) == reply.text
        ids = prompt.tokens + reply.tokens
        scorer.reset()
        scorer.eval(prompt.tokens)
        for token in reply.tokens[:-1]:
            scorer.eval([token])
        rows = np.asarray(scorer.scores[len(prompt.tokens) - 1:len(ids) - 1], dtype=np.float64)
        rows -= rows.max(axis=1, keepdims=True)
        expected = rows[np.arange(len(reply.tokens)), reply.tokens] - np.log(
            np.exp(rows).sum(axis=1))
        got = np.array([logprob for _, logprob in reply.logprobs])
        assert np.allclose(got, expected, atol=2e-3), (got - expected).round(3)
        below_best += int((expected < -1e-3 + rows.max(axis=1) - np.log(
            np.exp(rows).sum(axis=1))).sum())
    return below_best


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_beams_read_their_own_cells_and_guards(backend):
    """Beam search, 2 beams a prompt on 4 slots (so the third prompt waits for two free
    slots): each reply's log-probs are the model's own for its tokens after its prompt, so
    every beam read its own KV cells, also those copied from another beam; each keeps its
    own guard (entity lines from its own passage); and the search moved a beam at least once
    (the first step always does: both beams come from the prompt's one)."""
    from kgx.distill.format import parse_lines
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    requests = _requests(max_tokens=32)
    decoder = BatchDecoder(backend.generator, slots=4, flash_attn=False)
    copies = []
    copy_cells = decoder._copy_cells
    decoder._copy_cells = lambda source, target: copies.append(target) or copy_cells(source,
                                                                                   target)
    try:
        prompts = [BatchPrompt(backend._chat_prompt(r)[0], 32, backend._line_guard_processor(
            r.messages[-1].content, keep=4)[0], logprobs=True, beams=2) for r in requests]
        replies = decoder.generate(prompts)
        greedy = decoder.generate([BatchPrompt(p.tokens, 32, backend._line_guard_processor(
            r.messages[-1].content)[0], logprobs=True) for p, r in zip(prompts, requests,
                                                                        strict=True)])
    finally:
        decoder.close()
    assert len(copies) >= len(prompts)
    _below_best(backend, prompts, replies)
    for text, reply in zip(PASSAGES, replies, strict=True):
        assert reply.tokens and reply.finish_reason in ("stop", "length")
        entities = parse_lines(reply.text, numbered_ends=False).entities
        assert entities and all(name.casefold() in text.casefold() for name in entities)
    assert [r.text for r in replies] != [r.text for r in greedy]  # the search chose otherwise


@pytest.mark.slow  # loads the bundled model
def test_llamacpp_batch_refuses_more_beams_than_slots(backend):
    from kgx.errors import LLMError
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    decoder = BatchDecoder(backend.generator, slots=2)
    try:
        tokens = backend._chat_prompt(_requests()[0])[0]
        replies = decoder.generate([BatchPrompt(tokens, 4, beams=3), BatchPrompt(tokens, 4)])
    finally:
        decoder.close()
    assert isinstance(replies[0], LLMError) and "3 beams do not fit" in str(replies[0])
    assert not isinstance(replies[1], LLMError)


@pytest.mark.slow  # loads the bundled model
def test_llamacpp_batch_refuses_a_prompt_longer_than_its_slot(backend):
    from kgx.errors import LLMError
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    decoder = BatchDecoder(backend.generator, slots=2, slot_ctx=64)
    try:
        short, long = backend._chat_prompt(_requests()[0])[0], list(range(1, 80))
        replies = decoder.generate([BatchPrompt(long, 8), BatchPrompt(short[:40], 8)])
    finally:
        decoder.close()
    assert isinstance(replies[0], LLMError) and "does not fit a batch slot" in str(replies[0])
    assert not isinstance(replies[1], LLMError) and replies[1].tokens
    assert (replies[1].finish_reason == "length") == (len(replies[1].tokens) == 8)


def test_shared_prefix_is_the_common_start_short_of_each_last_token():
    from kgx.llm.llamacpp_batch import BatchPrompt, shared_prefix

    def prompts(*token_lists):
        return [BatchPrompt(list(tokens), 8) for tokens in token_lists]

    assert shared_prefix(prompts([1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9])) == [1, 2]
    assert shared_prefix(prompts([1, 2, 3], [1, 2, 3])) == [1, 2]  # one token left to prefill
    assert shared_prefix(prompts([1, 2, 3], [4, 2, 3])) == []
    assert shared_prefix(prompts([1, 2, 3])) == []  # nothing to share with
    assert shared_prefix([]) == []


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_shared_prefix_is_prefilled_once_and_gives_the_same_replies(backend):
    """Prompts with a common start (chat template and system prompt): each slot copies the
    start's KV cells instead of prefilling it, and the greedy replies stay the same."""
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt, shared_prefix

    prompts = [BatchPrompt(backend._chat_prompt(r)[0], 24) for r in _requests()]
    prefix = shared_prefix(prompts)
    assert len(prefix) >= 16
    fed = []
    decoder = BatchDecoder(backend.generator, slots=2)
    llama_cpp = decoder._llama_cpp
    decode = llama_cpp.llama_decode
    try:
        llama_cpp.llama_decode = lambda ctx, batch: fed.append(batch.n_tokens) or decode(ctx,
                                                                                         batch)
        shared = decoder.generate(prompts)
        shared_tokens = sum(fed)
        fed.clear()
        alone = [decoder.generate([p])[0] for p in prompts]  # one prompt: nothing shared
        alone_tokens = sum(fed)
    finally:
        llama_cpp.llama_decode = decode
        decoder.close()
    assert [r.text for r in shared] == [r.text for r in alone]
    assert alone_tokens - shared_tokens == (len(prompts) - 1) * len(prefix)


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_steps_feed_sequences_in_order(backend):
    """Each llama_decode gets its tokens in ascending sequence order, each sequence's together,
    also once slots free up out of order: llama.cpp cuts a batch into a micro-batch (a pass
    over all the weights) per run of consecutive sequence ids."""
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    base = [backend._chat_prompt(r)[0] for r in _requests()]
    caps = (12, 4, 9, 3, 7, 5)  # replies end apart, so slots free up out of order
    prompts = [BatchPrompt(base[i % len(base)], cap) for i, cap in enumerate(caps)]
    steps: list[list[int]] = []
    decoder = BatchDecoder(backend.generator, slots=3)
    llama_cpp = decoder._llama_cpp
    decode = llama_cpp.llama_decode

    def recording(ctx, batch):
        steps.append([batch.seq_id[i][0] for i in range(batch.n_tokens)])
        return decode(ctx, batch)

    try:
        llama_cpp.llama_decode = recording
        replies = decoder.generate(prompts)
    finally:
        llama_cpp.llama_decode = decode
        decoder.close()
    assert all(0 < len(r.tokens) <= cap for r, cap in zip(replies, caps, strict=True))
    assert len(steps) > 10 and any(len(set(step)) == 3 for step in steps)
    for step in steps:
        assert step == sorted(step), step


@pytest.mark.slow  # decodes with the bundled model
def test_llamacpp_batch_moves_replies_into_free_lower_slots(backend):
    """When the first slot's short reply ends and no prompt is left to take its slot, the
    reply in the highest slot moves there (its KV cells copied), so every later step feeds
    consecutive sequence ids; the replies are the same as without the move."""
    from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

    requests = _requests(max_tokens=24)
    replies, steps = {}, {}
    for compact in (False, True):
        prompts = [BatchPrompt(backend._chat_prompt(r)[0], cap, backend._line_guard_processor(
            r.messages[-1].content)[0], logprobs=True) for r, cap in zip(requests, (3, 24, 24),
                                                                         strict=True)]
        decoder = BatchDecoder(backend.generator, slots=3, flash_attn=False, compact=compact)
        steps[compact] = []
        step = decoder._step
        decoder._step = lambda running, step=step, seen=steps[compact]: seen.append(
            sorted(running)) or step(running)
        try:
            replies[compact] = decoder.generate(prompts)
        finally:
            decoder.close()
    assert [r.text for r in replies[True]] == [r.text for r in replies[False]]
    for got, want in zip(replies[True], replies[False], strict=True):
        assert [p for _, p in got.logprobs] == pytest.approx([p for _, p in want.logprobs],
                                                             abs=2e-3)
    assert [1, 2] in steps[False] and [1, 2] not in steps[True]  # the gap left at slot 0
    assert [0, 1] in steps[True]
