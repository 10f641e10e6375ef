"""Faults of a real OpenAI-compatible server on loopback: stopped, frozen, rate-limiting, failing.

The server is llama-cpp-python's with the bundled SmolLM2; 429 and 503 come from a real HTTP
proxy in front of it (`kgx.testing.fault_proxy`), since the server itself never sends them.
"""

from __future__ import annotations

import threading
import time

import pytest

from kgx.errors import LLMError, LLMOutputError, LLMUnavailableError
from kgx.llm.managed import ManagedLLM
from kgx.llm.openai_http import OpenAICompatibleLLM
from kgx.llm.probe import City, city_request
from kgx.testing.fault_proxy import FaultProxy
from kgx.testing.llama_server import start_llama_server
from kgx.testing.neo4j_server import free_port

FAST_BACKOFF = (0.05, 0.2)


def client(url: str, model: str = "smollm2", **kwargs) -> OpenAICompatibleLLM:
    options = {"dialect": "llamacpp", "backoff_s": FAST_BACKOFF, **kwargs}
    return OpenAICompatibleLLM(model, url, **options)


@pytest.fixture
def own_server(tmp_path):
    """A server this test may stop, freeze or restart."""
    server = start_llama_server(log_dir=tmp_path, n_ctx=1024)
    yield server
    server.stop()


def test_faults_stopped_server_raises_unavailable_with_the_fix(own_server):
    backend = client(own_server.url, max_retries=2)
    own_server.stop()
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match=r"cannot connect.*3 attempts.*Is the server"):
        backend.complete([city_request("France")])
    assert time.monotonic() - started < 10


def test_faults_server_that_comes_back_is_retried(own_server, tmp_path):
    port = int(own_server.url.rsplit(":", 1)[1].split("/")[0])
    own_server.stop()
    restarted = {}

    def restart() -> None:
        time.sleep(1.0)
        restarted["server"] = start_llama_server(port=port, log_dir=tmp_path, n_ctx=1024)

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        backend = client(own_server.url, max_retries=30, backoff_s=(0.2, 0.5))
        [reply] = ManagedLLM(backend).generate([city_request("Japan")])
        assert isinstance(reply.parsed, City)
    finally:
        thread.join()
        if "server" in restarted:
            restarted["server"].stop()


def test_faults_frozen_server_times_out(own_server):
    backend = client(own_server.url, timeout_s=0.5, max_retries=1)
    own_server.pause()
    try:
        with pytest.raises(LLMUnavailableError, match=r"no answer within 0.5 s.*2 attempts"):
            backend.complete([city_request("Peru")])
    finally:
        own_server.resume()


def test_faults_slow_server_recovers_within_retries(own_server):
    # Requests that timed out still queue up in the frozen server; later attempts wait for them.
    backend = client(own_server.url, timeout_s=2.0, max_retries=8, backoff_s=(0.1, 0.2))
    own_server.pause()
    timer = threading.Timer(2.5, own_server.resume)
    timer.start()
    try:
        [completion] = backend.complete([city_request("Chile", max_tokens=16)])
    finally:
        timer.join()
    assert completion.text


def test_faults_rate_limit_storm_is_retried_honouring_retry_after(llama_server):
    with FaultProxy(llama_server.url) as proxy:
        proxy.fail_next(3, status=429, retry_after=0.3)
        started = time.monotonic()
        [reply] = ManagedLLM(client(proxy.url, max_retries=4)).generate([city_request("Kenya")])
        assert isinstance(reply.parsed, City)
        assert proxy.requests == 4
        assert time.monotonic() - started >= 0.9  # three Retry-After waits of 0.3 s


def test_faults_endless_rate_limit_gives_up_with_advice(llama_server):
    with FaultProxy(llama_server.url) as proxy:
        proxy.fail_next(10, status=429, retry_after=0.01)
        with pytest.raises(LLMUnavailableError, match=r"HTTP 429.*rate-limiting"):
            client(proxy.url, max_retries=2).complete([city_request("Chad")])
        assert proxy.requests == 3


def test_faults_server_errors_are_retried(llama_server):
    with FaultProxy(llama_server.url) as proxy:
        proxy.fail_next(2, status=503)
        [completion] = client(proxy.url, max_retries=2).complete([city_request("Oman")])
        assert completion.text and proxy.requests == 3


def test_faults_concurrency_limit_holds(llama_server):
    with FaultProxy(llama_server.url) as proxy:
        requests = [city_request(c, max_tokens=16) for c in ("A", "B", "C", "D", "E", "F")]
        client(proxy.url, concurrency=2).complete(requests)
        assert proxy.max_in_flight == 2


def test_faults_refused_request_is_not_retried_and_follows_on_error(llama_server):
    with FaultProxy(llama_server.url) as proxy:
        huge = city_request("France " * 5000)
        llm = ManagedLLM(client(proxy.url), on_error="skip-and-record")
        bad, good = llm.generate([huge, city_request("Spain")])
        assert "HTTP 400" in bad.error and "context length" in bad.error
        assert isinstance(good.parsed, City)
        assert proxy.requests == 2
        with pytest.raises(LLMError, match="HTTP 400"):
            ManagedLLM(client(proxy.url)).generate([huge])


def test_faults_json_cut_off_at_the_cap_is_recorded_without_a_repair_turn(llama_server):
    # Under the same cap a repair would be cut off too, so none is sent.
    llm = ManagedLLM(client(llama_server.url), on_error="skip-and-record")
    [reply] = llm.generate([city_request("Italy", max_tokens=4)])
    assert reply.attempts == 1 and reply.parsed is None
    assert "cut off at max_tokens=4" in reply.error
    assert llm.meter.as_dict()["llm_calls"] == 1
    with pytest.raises(LLMOutputError, match="Italy"):
        ManagedLLM(client(llama_server.url)).generate([city_request("Italy", max_tokens=4)])


def test_faults_wrong_port_names_the_url(llama_server):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailableError, match="cannot connect"):
        client(url, max_retries=0).complete([city_request("Iran")])


def test_faults_bad_key_stops_the_run_even_under_skip(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with FaultProxy(llama_server.url) as proxy:
        proxy.fail_next(1, status=401)
        llm = ManagedLLM(client(proxy.url), on_error="skip-and-record")
        with pytest.raises(LLMError, match=r"HTTP 401.*set \$OPENAI_API_KEY") as caught:
            llm.generate([city_request("Cuba")])
        assert "sk-test" not in str(caught.value)
        assert proxy.last_authorization == "Bearer sk-test-not-a-real-key"
