"""`kgx llm generate|score|check` end to end: llama.cpp in process and over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgx.cli import app

COUNTRIES = ("France", "Japan", "Peru")


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    return {"KGX_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture
def requests_file(tmp_path) -> Path:
    path = tmp_path / "requests.jsonl"
    lines = [{"id": c, "prompt": f"Name one city in {c}. Answer in JSON."} for c in COUNTRIES]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _ok(runner, *args: str) -> str:
    result = runner.invoke(app, ["llm", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _generate(*extra: str) -> list[str]:
    return ["generate", "--schema", "kgx.llm.probe:City", "--max-tokens", "48", *extra]


@pytest.mark.slow  # the local LLM
def test_cli_llm_generate_writes_parsed_replies_and_usage(runner, cache_env, requests_file,
                                                          tmp_path):
    out = tmp_path / "out.jsonl"
    output = _ok(runner, *_generate(str(requests_file), "-o", str(out)))
    lines = _lines(out)
    assert [line["id"] for line in lines] == list(COUNTRIES)
    assert all(set(line["parsed"]) == {"name", "country"} for line in lines)
    assert "LLM usage: 3 calls (0 from cache)" in output
    [run] = json.loads((tmp_path / "out.jsonl.usage.json").read_text())["runs"]
    assert run["llm_calls"] == 3 and run["prompt_tokens"] == sum(
        line["prompt_tokens"] for line in lines)


@pytest.mark.slow  # the local LLM
def test_cli_llm_dry_run_estimates_exactly_and_rerun_is_free(runner, cache_env, requests_file,
                                                             tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"SmolLM2": {"prompt": 1.0, "completion": 2.0}}))
    dry = _ok(runner, *_generate(str(requests_file), "-o", str(tmp_path / "a.jsonl"),
                                 "--dry-run", "--prices", str(prices)))
    assert "Dry run: 3 LLM calls (0 already cached" in dry
    assert "at most $0.0004" in dry  # (120 prompt + 3 × 48 completion × 2) / 1e6
    assert not (tmp_path / "a.jsonl").exists()
    _ok(runner, *_generate(str(requests_file), "-o", str(tmp_path / "a.jsonl")))
    spent = sum(line["prompt_tokens"] for line in _lines(tmp_path / "a.jsonl"))
    assert f"{spent} prompt tokens" in dry  # the estimate renders the chat template exactly
    again = _ok(runner, *_generate(str(requests_file), "-o", str(tmp_path / "b.jsonl")))
    assert "0 calls (3 from cache), 0 prompt + 0 completion tokens" in again
    dry_again = _ok(runner, *_generate(str(requests_file), "-o", str(tmp_path / "c.jsonl"),
                                       "--dry-run"))
    assert "0 LLM calls (3 already cached" in dry_again


@pytest.mark.slow  # the local LLM
def test_cli_llm_generate_resumes_and_refuses_to_overwrite(runner, cache_env, requests_file,
                                                           tmp_path):
    out = tmp_path / "out.jsonl"
    first = requests_file.read_text().splitlines()[0]
    out.write_text(json.dumps({"id": "France", "text": "kept"}) + "\n")
    refused = runner.invoke(app, ["llm", *_generate(str(requests_file), "-o", str(out))])
    assert refused.exit_code != 0 and "--resume" in str(refused.exception)
    assert out.read_text().count("\n") == 1 and first
    output = _ok(runner, *_generate(str(requests_file), "-o", str(out), "--resume"))
    assert "2 calls" in output
    assert [line["id"] for line in _lines(out)] == list(COUNTRIES)
    assert _lines(out)[0]["text"] == "kept"


def test_cli_llm_generate_over_http(runner, cache_env, requests_file, tmp_path, llama_server):
    out = tmp_path / "out.jsonl"
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    output = _ok(runner, *_generate(str(requests_file), "-o", str(out), "--llm", spec,
                                    "--llm-concurrency", "2"))
    assert "3 calls" in output
    assert all(line["parsed"] for line in _lines(out))


@pytest.mark.slow  # the local LLM
def test_cli_llm_score_local(runner, cache_env, tmp_path):
    source = tmp_path / "score.jsonl"
    source.write_text("\n".join(json.dumps({"id": c, "prompt": "The capital of France is",
                                            "continuation": f" {c}"})
                                for c in ("Paris", "Tokyo")) + "\n")
    out = tmp_path / "scores.jsonl"
    _ok(runner, "score", str(source), "-o", str(out))
    paris, tokyo = _lines(out)
    assert paris["tokens"] == [" Paris"] and paris["total"] > tokyo["total"]


@pytest.mark.slow  # the local LLM
def test_cli_llm_check_local(runner, cache_env):
    output = _ok(runner, "check")
    assert "structured reply: valid City JSON" in output
    assert "log-prob scoring: yes" in output


def test_cli_llm_errors_name_the_fix(cache_env, tmp_path, llama_server):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "hi"}\n{oops\n')
    kgx = [sys.executable, "-m", "kgx.cli"]
    env = {**cache_env, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([*kgx, "llm", "generate", str(bad), "-o", str(tmp_path / "o.jsonl")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 1 and f"{bad}:2: not valid JSON" in done.stderr
    assert not (tmp_path / "o.jsonl").exists()
    source = tmp_path / "score.jsonl"
    source.write_text(json.dumps({"prompt": "a", "continuation": " b"}) + "\n")
    spec = f"openai:{llama_server.model}@{llama_server.url}"
    done = subprocess.run([*kgx, "llm", "score", str(source), "-o", str(tmp_path / "s.jsonl"),
                           "--llm", spec], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "not supported by llama.cpp servers" in done.stderr
    done = subprocess.run([*kgx, "llm", "check", "--llm", "nosuch:x"], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 1 and "Unknown LLM backend 'nosuch'" in done.stderr
