"""The student adapter shipped inside the kgx package (trained by `kgx distill train`)."""

from __future__ import annotations

from pathlib import Path

from kgx.errors import ConfigError

SHIPPED = Path(__file__).parent / "student"
MODEL_CARD = SHIPPED / "MODEL_CARD.md"


def shipped_adapter() -> Path:
    """The folder of the shipped LoRA adapter for SmolLM2-135M-Instruct."""
    if not (SHIPPED / "adapter_model.safetensors").is_file():
        raise ConfigError(f"The shipped student adapter is missing from {SHIPPED}; reinstall "
                          f"kgx-graph, or train one with `kgx distill train` and pass "
                          f"--llm student:PATH.")
    return SHIPPED
