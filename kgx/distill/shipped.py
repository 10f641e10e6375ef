"""The student adapters shipped inside the kgx package (trained by `kgx distill train`).

`student` is the current one, student v2 (line replies, format v3; docs/student_v2.md);
`student:v1` is the first one (JSON replies), kept loadable for comparison."""

from __future__ import annotations

from pathlib import Path

from kgx.errors import ConfigError

SHIPPED = Path(__file__).parent / "student"
SHIPPED_V1 = Path(__file__).parent / "student_v1"
VERSIONS = {"current": SHIPPED, "v1": SHIPPED_V1}
MODEL_CARD = SHIPPED / "MODEL_CARD.md"


def shipped_adapter(version: str = "current") -> Path:
    """The folder of a shipped LoRA adapter for SmolLM2-135M-Instruct ("current" or "v1")."""
    if version not in VERSIONS:
        raise ConfigError(f"kgx ships the student versions {sorted(VERSIONS)}, not {version!r}; "
                          f"use student, student:v1, or student:PATH for your own adapter.")
    folder = VERSIONS[version]
    if not (folder / "adapter_model.safetensors").is_file():
        raise ConfigError(f"The shipped student adapter is missing from {folder}; reinstall "
                          f"kgx-graph, or train one with `kgx distill train` and pass "
                          f"--llm student:PATH.")
    return folder
