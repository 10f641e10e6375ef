"""Next-token log-probs: ManagedLLM's cache and meter, and the real backends against each other."""

from __future__ import annotations

import pytest

from kgx.errors import ConfigError, LLMCapabilityError, LLMError
from kgx.llm.cache import LLMCache
from kgx.llm.managed import ManagedLLM
from kgx.llm.spec import bundled_gguf
from kgx.testing.fake_llm import FakeLLM

PREFIXES = ("Hi", "The capital of France is",
            "Ada Lovelace, the English mathematician who wrote the first program, was born in")
AGREEMENT = ("The capital of France is", "The largest planet in the solar system is",
             "Water boils at 100 degrees", "One, two, three,")


def capitals(prefix: str, k: int) -> list[tuple[str, float]]:
    return [(" Paris", -0.2), (" Lyon", -2.5), (" Nice", -3.0)][:k]


# -- ManagedLLM, with the fake ----------------------------------------------------------------


def test_llm_next_tokens_managed_caches_and_meters(tmp_path):
    fake = FakeLLM(next_tokens=capitals)
    llm = ManagedLLM(fake, cache=LLMCache(tmp_path))
    first = llm.next_tokens(["France's capital is", "Its capital is", "France's capital is"], 2)
    assert first == [[(" Paris", -0.2), (" Lyon", -2.5)]] * 3
    assert fake.next_token_prefixes == ["France's capital is", "Its capital is"]
    assert (llm.meter.calls, llm.meter.cached_calls) == (2, 1)

    again = ManagedLLM(fake, cache=LLMCache(tmp_path))
    assert again.next_tokens(["Its capital is", "France's capital is"], 2) == first[:2]
    assert again.next_tokens(["Its capital is"], 3) == [capitals("", 3)]  # k is in the key
    assert len(fake.next_token_prefixes) == 3
    assert (again.meter.calls, again.meter.cached_calls) == (1, 2)
    assert again.meter.wall_s >= 0 and again.next_tokens([], 2) == []


def test_llm_next_tokens_managed_rejects_a_bare_string_or_k_below_one():
    llm = ManagedLLM(FakeLLM(next_tokens=capitals))
    with pytest.raises(ConfigError, match="list of prefixes"):
        llm.next_tokens("The capital of France is", 2)
    with pytest.raises(ConfigError, match="k >= 1"):
        llm.next_tokens(["The capital of France is"], 0)


def test_llm_next_tokens_fake_without_a_function_says_how_to_give_one():
    with pytest.raises(LLMCapabilityError, match=r"pass next_tokens=\.\.\."):
        ManagedLLM(FakeLLM()).next_tokens(["The capital of France is"], 2)


# -- the real backends ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llamacpp():
    pytest.importorskip("llama_cpp")
    from kgx.llm.llamacpp import LlamaCppLLM

    backend = LlamaCppLLM(bundled_gguf())
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def transformers_llm():
    pytest.importorskip("transformers")
    from kgx.llm.transformers_llm import TransformersLLM

    backend = TransformersLLM(bundled_gguf(), batch_size=8)
    backend.warm_up()
    yield backend
    backend.close()


@pytest.mark.slow  # the bundled model in llama.cpp
def test_llm_next_tokens_llamacpp_leaves_generation_alone(llamacpp):
    from kgx.llm.types import LLMRequest, SamplingParams

    request = LLMRequest.from_prompt("Say hello to Ada.", params=SamplingParams(max_tokens=12))
    [before] = llamacpp.complete([request])
    [top] = llamacpp.next_tokens(["The capital of France is"], 3)
    [after] = llamacpp.complete([request])
    assert before.text == after.text and top[0][0] == " Paris"


def test_llm_next_tokens_empty_prefix_without_bos_is_refused(llamacpp):
    with pytest.raises(LLMError, match="non-empty prefix"):
        llamacpp.next_tokens([""], 3)


@pytest.mark.slow
def test_llm_next_tokens_transformers_batch_equals_one_at_a_time(transformers_llm):
    batched = transformers_llm.next_tokens(PREFIXES, 5)
    for prefix, together in zip(PREFIXES, batched, strict=True):
        [alone] = transformers_llm.next_tokens([prefix], 5)
        assert [text for text, _ in together] == [text for text, _ in alone]
        assert [lp for _, lp in together] == pytest.approx([lp for _, lp in alone], abs=1e-4)


@pytest.mark.slow
def test_llm_next_tokens_transformers_text_is_what_the_token_adds(transformers_llm):
    tokenizer = transformers_llm._tokenizer
    for prefix in PREFIXES:
        [top] = transformers_llm.next_tokens([prefix], 20)
        ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        for text, _ in top:
            if "\ufffd" in text:  # one byte of a character: it adds no text of its own
                continue
            [token] = tokenizer(prefix + text, add_special_tokens=False)["input_ids"][len(ids):]
            assert tokenizer.decode([*ids, token]) == prefix + text


@pytest.mark.slow
def test_llm_next_tokens_transformers_agrees_with_llamacpp(transformers_llm, llamacpp):
    hf = transformers_llm.next_tokens(AGREEMENT, 5)
    cpp = llamacpp.next_tokens(AGREEMENT, 5)
    gaps = []
    for ours, theirs in zip(hf, cpp, strict=True):
        assert ours[0][0] == theirs[0][0]
        shared = dict(ours).keys() & dict(theirs).keys()
        assert len(shared) >= 3
        gaps += [abs(dict(ours)[text] - dict(theirs)[text]) for text in shared]
    # Same Q4_1 weights, but llama.cpp also quantizes activations. Measured on these prefixes:
    # at most 0.26 nats apart, 0.09 on average.
    assert max(gaps) < 0.35
    assert sum(gaps) / len(gaps) < 0.15


@pytest.mark.slow
def test_llm_next_tokens_llamacpp_server_equals_in_process(llama_server, llamacpp):
    """llama-cpp-python's server reads the first generated token's log-probs from the right row."""
    from kgx.llm.openai_http import OpenAICompatibleLLM

    http = OpenAICompatibleLLM(llama_server.model, llama_server.url)
    prefixes = [*AGREEMENT, "日本の首都は"]
    served, local = http.next_tokens(prefixes, 8), llamacpp.next_tokens(prefixes, 8)
    assert http.dialect == "llamacpp"
    for theirs, ours in zip(served, local, strict=True):
        assert "" not in dict(theirs)  # part-of-a-character tokens, collapsed by the server
        for text, logprob in theirs:
            assert logprob == pytest.approx(dict(ours)[text], abs=1e-4)
    assert [text for text, _ in served[0]] == [text for text, _ in local[0]]
