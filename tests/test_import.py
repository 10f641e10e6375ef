"""`import kgx` stays light: fast, and free of heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "neo4j", "spacy", "vllm", "ray", "ladybug", "pyarrow",
         "llama_cpp", "xgrammar", "httpx", "tenacity")
IMPORT_BUDGET_S = 0.3


def _fresh_import(code: str) -> dict:
    script = ("import json, sys, time; t = time.perf_counter(); " + code +
              "; print(json.dumps({'seconds': time.perf_counter() - t, "
              "'modules': sorted(sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def test_import_kgx_is_light_and_fast():
    """The best of up to seven fresh interpreters: one slow start on a busy machine is noise,
    every start over the budget is a heavy import."""
    best = None
    for _ in range(7):
        result = _fresh_import("import kgx")
        if best is None or result["seconds"] < best["seconds"]:
            best = result
        if best["seconds"] < IMPORT_BUDGET_S:
            break
    assert best["seconds"] < IMPORT_BUDGET_S
    assert not [m for m in HEAVY if m in best["modules"]]


def test_import_data_model_and_extractor_registry_stay_light():
    result = _fresh_import("import kgx; kgx.Entity(name='Ada'); import kgx.extractors, "
                           "kgx.retrieval, kgx.graphdb")
    assert not [m for m in HEAVY if m in result["modules"]]


def test_import_llm_layer_loads_no_backend_library():
    result = _fresh_import("import kgx.llm as m; m.LLMRequest; m.ManagedLLM; m.load_llm; "
                           "m.make_backend('openai:gpt-4o-mini'); m.make_backend('local'); "
                           "m.make_backend('hf:local'); m.make_backend('vllm:some/model')")
    assert not [m for m in HEAVY if m in result["modules"]]
