"""Distillation: teach a small model to extract in one pass what a teacher extracts in many.

    kgx distill data --teacher-openie teacher.json --out data/    # train/validation/test JSONL
    kgx distill train data/ --out student/                          # LoRA on SmolLM2-135M
    kgx distill eval data/test.jsonl --adapter student/             # against the teacher

Modules: `format` (the student's prompt and reply schema), `data` (datasets and the split by
document), `train` (TRL SFT with PEFT LoRA), `evaluate` (agreement with the teacher), `shipped`
(the adapter bundled with kgx). Importing this package loads nothing heavy.
"""

from __future__ import annotations

from kgx.lazy import lazy_exports

_LAZY = {
    "PROMPT_VERSION": "format", "StudentGraph": "format", "student_messages": "format",
    "student_target": "format",
    "Example": "data", "SplitSpec": "data", "examples_from_teacher_openie": "data",
    "examples_from_store": "data", "split_by_document": "data", "write_dataset": "data",
    "read_dataset": "data",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
