"""vLLM's offline engine against the backend contract; it needs vLLM and a CUDA GPU.

Set KGX_VLLM_MODEL to an HF id or path to choose the model (default: the bundled SmolLM2 GGUF).
"""

from __future__ import annotations

import os

import pytest

from kgx.testing.llm_contract import LLMBackendContract

vllm = pytest.importorskip(
    "vllm", reason="vLLM is not installed: it needs a CUDA GPU, and CI has none "
                   "(pip install 'kgx-graph[vllm]' on a GPU machine to run these)")


@pytest.fixture(scope="module")
def backend():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM is installed but there is no CUDA GPU")
    from kgx.llm.spec import bundled_gguf
    from kgx.llm.vllm_engine import VLLMEngine

    engine = VLLMEngine(os.environ.get("KGX_VLLM_MODEL", str(bundled_gguf())),
                        engine_args={"gpu_memory_utilization": 0.3, "max_model_len": 2048})
    yield engine
    engine.close()


class TestVLLMContract(LLMBackendContract):
    """The shared contract on the GPU."""
