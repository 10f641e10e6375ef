"""The student through llama.cpp: a PEFT LoRA converted to a GGUF LoRA must give the log-probs
transformers gives with the adapter merged, and `student-llamacpp:PATH` must extract graphs.

The adapter is random (non-zero B, strong on q and k), made on the bundled model, so the tests
need no trained checkpoint; a conversion without the rotary permutation must fail the check.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("peft")
pytest.importorskip("gguf")

import numpy as np

from kgx.distill import gguf_lora
from kgx.llm.spec import bundled_gguf

PASSAGE = "Ada Lovelace worked with Charles Babbage on the Analytical Engine in London."
REPLY = '{"entities":["Ada Lovelace","Charles Babbage","Analytical Engine","London"]}'
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
B_STD = {"q_proj": 0.2, "k_proj": 0.2}  # strong on q and k, where the permutation matters
OTHER_B_STD = 0.03


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory):
    """(a random PEFT LoRA folder, the token ids scored, index of the first reply token,
    transformers' log-probs of the reply tokens with the adapter merged)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from kgx.distill.format import student_messages
    from kgx.distill.train import load_base

    torch.manual_seed(0)
    model, tokenizer = load_base("local")
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS))
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_B"):
            std = B_STD.get(name.rsplit(".", 1)[-1], OTHER_B_STD)
            torch.nn.init.normal_(module.lora_B["default"].weight, std=std)
    folder = tmp_path_factory.mktemp("adapter") / "student"
    peft_model.save_pretrained(folder)
    prompt = tokenizer.apply_chat_template(student_messages(PASSAGE), tokenize=False,
                                           add_generation_prompt=True)
    encoded = tokenizer(prompt + REPLY, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    first = next(i for i, (_, end) in enumerate(encoded["offset_mapping"]) if end > len(prompt))
    merged = peft_model.merge_and_unload().eval()
    with torch.inference_mode():
        logits = merged(input_ids=torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1).numpy()
    return folder, ids, first, _chosen(logprobs, ids, first)


def _chosen(logprobs, ids: list[int], first: int) -> np.ndarray:
    """Log-probs of tokens first.. (position p predicts token p + 1)."""
    return np.array([logprobs[i - 1, ids[i]] for i in range(first, len(ids))])


def _llamacpp_logprobs(lora: str | None, ids: list[int], first: int,
                       model_path=None) -> np.ndarray:
    import llama_cpp

    model = llama_cpp.Llama(str(model_path or bundled_gguf()), lora_path=lora, n_ctx=256,
                            n_threads=1,
                            logits_all=True, verbose=False)
    try:
        model.eval(ids)
        logits = np.asarray(model.scores[:len(ids)], dtype=np.float64)
    finally:
        model.close()
    shifted = logits - logits.max(axis=1, keepdims=True)
    return _chosen(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), ids, first)


@pytest.mark.slow  # transformers and llama.cpp models
def test_gguf_lora_logprobs_match_transformers_merged(tiny_adapter, tmp_path):
    folder, ids, first, expected = tiny_adapter
    lora = gguf_lora.convert_adapter(folder, tmp_path / "lora.gguf", bundled_gguf())
    base = _llamacpp_logprobs(None, ids, first)
    found = _llamacpp_logprobs(str(lora), ids, first)
    gap = np.abs(found - expected)
    print(f"\n|llama.cpp - transformers| per reply token: mean {gap.mean():.3f}, max "
          f"{gap.max():.3f} nats; adapter moved them by {np.abs(expected - base).mean():.3f}")
    assert np.abs(expected - base).mean() > 0.3  # the adapter matters, so the check can fail
    assert gap.mean() < 0.2 and gap.max() < 1.0


@pytest.mark.slow  # transformers and llama.cpp models
def test_merged_gguf_logprobs_match_transformers_merged(tiny_adapter, tmp_path):
    """The adapter folded into the base weights (Q8_0) scores like transformers' merge, and
    like the runtime LoRA, within the rounding of the 8-bit weights."""
    folder, ids, first, expected = tiny_adapter
    merged = gguf_lora.merge_adapter(folder, tmp_path / "merged.gguf", bundled_gguf())
    found = _llamacpp_logprobs(None, ids, first, model_path=merged)
    base = _llamacpp_logprobs(None, ids, first)
    gap = np.abs(found - expected)
    print(f"\n|merged llama.cpp - transformers| per reply token: mean {gap.mean():.3f}, max "
          f"{gap.max():.3f} nats; adapter moved them by {np.abs(expected - base).mean():.3f}")
    assert np.abs(expected - base).mean() > 0.3
    assert gap.mean() < 0.2 and gap.max() < 1.0


@pytest.mark.slow  # transformers and llama.cpp models
def test_merged_gguf_without_rotary_permutation_fails(tiny_adapter, tmp_path, monkeypatch):
    folder, ids, first, expected = tiny_adapter
    monkeypatch.setattr(gguf_lora, "_permute_rotary", lambda rows, heads: rows)
    merged = gguf_lora.merge_adapter(folder, tmp_path / "unpermuted.gguf", bundled_gguf())
    gap = np.abs(_llamacpp_logprobs(None, ids, first, model_path=merged) - expected)
    assert gap.mean() > 0.3


@pytest.mark.slow  # transformers and llama.cpp models
def test_gguf_lora_without_rotary_permutation_fails(tiny_adapter, tmp_path, monkeypatch):
    folder, ids, first, expected = tiny_adapter
    monkeypatch.setattr(gguf_lora, "_permute_rotary", lambda rows, heads: rows)
    lora = gguf_lora.convert_adapter(folder, tmp_path / "unpermuted.gguf", bundled_gguf())
    gap = np.abs(_llamacpp_logprobs(str(lora), ids, first) - expected)
    print(f"\nunpermuted q/k: mean {gap.mean():.3f}, max {gap.max():.3f} nats")
    assert gap.mean() > 0.3


@pytest.mark.slow  # converts LoRA adapters
def test_gguf_lora_cached_once_and_reconverted_when_changed(tiny_adapter, tmp_path,
                                                            monkeypatch):
    import shutil

    folder = tmp_path / "adapter"
    shutil.copytree(tiny_adapter[0], folder)
    first = gguf_lora.cached_gguf_adapter(folder, bundled_gguf())
    assert first.parent == folder and first.suffix == ".gguf"
    assert gguf_lora.cached_gguf_adapter(folder, bundled_gguf()) == first
    config = folder / "adapter_config.json"
    config.write_text(config.read_text().replace('"lora_alpha": 32', '"lora_alpha": 16'))
    second = gguf_lora.cached_gguf_adapter(folder, bundled_gguf())
    assert second != first and second.is_file() and not first.exists()
    # A read-only adapter folder (the shipped one in site-packages) converts into the cache.
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    real = gguf_lora._convert_atomically

    def read_only(adapter, where, name, base, merged):
        if where == adapter:
            raise PermissionError(f"{where} is read-only")
        return real(adapter, where, name, base, merged)

    monkeypatch.setattr(gguf_lora, "_convert_atomically", read_only)
    second.unlink()
    cached = gguf_lora.cached_gguf_adapter(folder, bundled_gguf())
    assert cached.parent == tmp_path / "cache" / "gguf-adapters"
    merged = gguf_lora.cached_merged_gguf(folder, bundled_gguf())  # its own file, same rules
    assert merged.parent == cached.parent and merged.name.startswith("merged_model.")
    assert gguf_lora.cached_merged_gguf(folder, bundled_gguf()) == merged
    q4 = gguf_lora.cached_merged_gguf(folder, bundled_gguf(), qtype="Q4_0")
    assert q4 != merged and q4.stat().st_size < merged.stat().st_size


@pytest.mark.slow  # tiny_adapter runs transformers
def test_student_llamacpp_spec_names_the_adapter(tiny_adapter, monkeypatch):
    from kgx.errors import ConfigError
    from kgx.llm.llamacpp import LlamaCppLLM
    from kgx.llm.spec import make_backend

    backend = make_backend(f"student-llamacpp:{tiny_adapter[0]}")
    assert isinstance(backend, LlamaCppLLM) and backend.lora == tiny_adapter[0]
    assert backend.merge_lora and "+merged" in backend.model
    assert backend.model.startswith(bundled_gguf().name + "+lora:student-")
    assert backend.model.endswith("+json:,:+guard.6+copy")  # compact JSON, guards: as trained
    assert backend.json_separators == (",", ":") and backend.repeat_guard
    assert make_backend("llamacpp:" + str(bundled_gguf())).model == bundled_gguf().name + "+guard.6"
    # Another quantization of the merged weights is another model: its replies are cached apart.
    monkeypatch.setenv("KGX_STUDENT_QUANT", "q4_0")
    assert "+merged:Q4_0+" in make_backend(f"student-llamacpp:{tiny_adapter[0]}").model
    monkeypatch.setenv("KGX_STUDENT_QUANT", "Q3_K")
    with pytest.raises(ConfigError, match="KGX_STUDENT_QUANT='Q3_K' is not one of auto, Q8_0"):
        make_backend(f"student-llamacpp:{tiny_adapter[0]}")


def test_student_beams_come_from_the_environment_and_key_the_cache(monkeypatch, tiny_adapter):
    from kgx.distill.backend import student_beams
    from kgx.errors import ConfigError
    from kgx.llm.spec import make_backend

    monkeypatch.delenv("KGX_STUDENT_BEAMS", raising=False)
    assert student_beams() == 1
    assert "+beams" not in make_backend(f"student-llamacpp:{tiny_adapter[0]}").model
    monkeypatch.setenv("KGX_STUDENT_BEAMS", " 2 ")
    backend = make_backend(f"student-llamacpp:{tiny_adapter[0]}")
    assert backend.beams == 2 and backend.model.endswith("+beams2")  # cached apart
    for bad in ("0", "9", "two", "-1"):
        monkeypatch.setenv("KGX_STUDENT_BEAMS", bad)
        with pytest.raises(ConfigError, match=f"KGX_STUDENT_BEAMS='{bad}' is not a whole"):
            student_beams()


def test_student_quant_auto_is_bf16_only_where_the_cpu_multiplies_bfloat16(monkeypatch):
    import kgx.hardware
    from kgx.distill import backend

    monkeypatch.delenv("KGX_STUDENT_QUANT", raising=False)
    for has_bf16, quant in ((True, "BF16"), (False, "Q8_0")):
        monkeypatch.setattr(kgx.hardware, "cpu_has_bf16", lambda has=has_bf16: has)
        assert backend.student_quant() == quant
        monkeypatch.setenv("KGX_STUDENT_QUANT", "Auto")
        assert backend.student_quant() == quant
        monkeypatch.delenv("KGX_STUDENT_QUANT")
    monkeypatch.setenv("KGX_STUDENT_QUANT", "q8_0")  # a type given wins over the CPU
    assert backend.student_quant() == "Q8_0"


def test_cpu_has_bf16_reads_the_flags_of_proc_cpuinfo(monkeypatch, tmp_path):
    import kgx.hardware

    def flags(text):
        info = tmp_path / "cpuinfo"
        info.write_text(text)
        monkeypatch.setattr(kgx.hardware, "Path", lambda _: info)
        kgx.hardware.cpu_has_bf16.cache_clear()
        return kgx.hardware.cpu_has_bf16()

    try:
        assert flags("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
        assert flags("Features\t: fp asimd bf16 i8mm\n")  # ARM
        assert not flags("flags\t\t: fpu avx2 avx512f avx512_vnni\n")
        assert not flags("model name\t: avx512_bf16 in a name is no flag\n")
    finally:
        kgx.hardware.cpu_has_bf16.cache_clear()


@pytest.mark.slow  # the student in llama.cpp
def test_student_extractor_student_llamacpp_spec_returns_graph(tmp_path, monkeypatch):
    """The trained, shipped adapter (a random one writes gibberish) through the spec."""
    import shutil

    from kgx.distill.format import StudentGraph
    from kgx.distill.shipped import SHIPPED
    from kgx.extractors.student import StudentExtractor
    from kgx.llm.spec import LLMSettings, load_llm, make_backend
    from kgx.models import Chunk

    if not (SHIPPED / "adapter_model.safetensors").is_file():
        pytest.skip("no shipped student adapter in this checkout")
    folder = tmp_path / "student"  # a copy: the conversion is cached next to the adapter
    shutil.copytree(SHIPPED, folder)
    monkeypatch.setenv("KGX_CACHE_DIR", str(tmp_path / "cache"))
    spec = f"student-llamacpp:{folder}"
    backend = make_backend(spec)
    backend.n_threads = 1  # llama.cpp's spinning threads crawl on a busy CI machine
    llm = load_llm(backend, LLMSettings(spec=spec, cache=False))
    text = "Ada Lovelace was born in London."
    chunk = Chunk(doc_id="d", index=0, text=text, start=0, end=len(text), n_tokens=8)
    extractor = StudentExtractor(llm, max_tokens=160, min_confidence=0.0)
    [found] = extractor.extract([chunk], run_id="r")
    llm.close()
    assert extractor.failures == [] and found.chunk_id == chunk.id
    assert any(e.name == "Ada Lovelace" for e in found.entities)
    assert found.relations  # each with the model's own confidence in it
    assert all(0.0 < r.confidence < 1.0 for r in found.relations), found.relations
    assert all(r.provenance.model == extractor.model for r in found.relations)
    assert "+lora:student-" in extractor.model
    masks = backend.masks.processor(StudentGraph.model_json_schema())
    assert [type(p).__name__ for p in masks] == ["_Mask", "_Guard"]
