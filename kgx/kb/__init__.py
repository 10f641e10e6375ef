"""NesyCD's symbolic knowledge base: a teacher's notes on a small student's mistakes, retrieved
into the student's prompt at inference (Liao et al., 2024, neural-symbolic collaborative
distillation).

    from kgx.kb import build_kb, evaluate_kb, load_problems, split_problems
    train, held_out = split_problems(load_problems(Path("gsm8k.jsonl")), held_out=0.5)
    with open_store("./kgx-store") as store:
        build_kb(load_llm("local"), load_llm("openai:gpt-4o-mini"), train[:40], store)
        report = evaluate_kb(load_llm("local"), held_out[:40], store)

Modules: `problems` (GSM8K JSONL, answers, the split), `entries` (the entry model), `prompts`
(student and teacher), `student` (solving, with entries in the prompt), `build` (the KB from
mistakes), `store` and `queries` (entries in a graph store), `index` (BM25 / dense top-k),
`transfer` (JSONL export and import), `evaluate` (accuracy without and with the KB).
Importing this package loads nothing heavy.
"""

from __future__ import annotations

from kgx.lazy import lazy_exports

_LAZY = {
    "Problem": "problems", "load_problems": "problems", "split_problems": "problems",
    "extract_answer": "problems", "gold_answer": "problems", "answers_match": "problems",
    "normalize_number": "problems",
    "KnowledgeEntry": "entries",
    "TEACHER": "prompts", "TeacherEntry": "prompts", "STUDENT_VERSION": "prompts",
    "student_request": "prompts", "teacher_request": "prompts",
    "Solution": "student", "solve": "student",
    "BuildReport": "build", "build_kb": "build",
    "save_entries": "store", "load_entries": "store", "count_entries": "store",
    "entry_links": "store",
    "KBIndex": "index", "ScoredEntry": "index",
    "export_kb": "transfer", "import_kb": "transfer", "read_entries": "transfer",
    "KBReport": "evaluate", "ProblemRecord": "evaluate", "evaluate_kb": "evaluate",
    "kb_markdown": "evaluate",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
