"""Student ablations on VALIDATION passages: what each part of the v2 recipe buys.

Every row runs the real `StudentExtractor` over the same --limit passages of the validation split
(never the test split) and scores it against the teacher with `kgx distill eval`'s code. Rows:

- spacy: the dependency-parse baseline;
- v1-as-shipped (JSON, transformers): the first student, read as it shipped (triple ends joined
  to entities by WRatio >= 90, no copy filter);
- v1, v1-llamacpp: the same adapter read with exact triple ends and the copy filter, through
  transformers and llama.cpp;
- v2 (lines, llama.cpp / transformers): a v2 adapter through each backend;
- v2 without the copy constraint (entity lines free at decoding; the copy filter still drops
  names that are not in the passage), and without either (no-copy);
- v2 without the line guard: llama.cpp decoding with no repeat guard.

Besides the rows, it measures the format itself on the training split: reply tokens per passage
in v1 JSON and v2 lines, and the share of teacher entities that are spans of their passage (the
ceiling of a copy constraint); and the teacher's agreement with itself on near-duplicate
passages of all splits (same title, texts at least 90% alike by rapidfuzz ratio, never equal):
a ceiling on how well any student can agree with this teacher.

    python benchmarks/student_ablation.py --adapter runs/v2 [--data DATA/] [--limit 40]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from kgx.distill.data import read_dataset
from kgx.distill.evaluate import System, evaluate_systems, spacy_system
from kgx.distill.shipped import shipped_adapter
from kgx.extractors.student import StudentExtractor
from kgx.llm.spec import LLMSettings, bundled_gguf, load_llm


def format_figures(data: Path) -> dict:
    """Reply tokens per training passage in each format, and the copy ceiling."""
    from transformers import AutoTokenizer

    gguf = bundled_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    examples = read_dataset(data / "train.jsonl")
    tokens = {fmt: statistics.mean(
        len(tokenizer(e.messages(fmt)[-1]["content"], add_special_tokens=False)["input_ids"])
        for e in examples) for fmt in ("v1", "v2")}
    entities = [(name, e.text) for e in examples for name in e.entities]
    spans = sum(name in text for name, text in entities) / len(entities)
    return {"reply_tokens_v1": round(tokens["v1"], 1), "reply_tokens_v2": round(tokens["v2"], 1),
            "teacher_entities_in_passage": round(spans, 4)}


def teacher_self_agreement(data: Path, *, similarity: float = 90.0) -> dict:
    """Triple and entity F1 of the teacher against itself over near-duplicate passages."""
    import itertools
    from collections import defaultdict

    from rapidfuzz import fuzz

    from kgx.evaluation.matching import count_matches, count_triple_matches, micro_prf

    by_title = defaultdict(list)
    for split in ("train", "validation", "test"):
        for example in read_dataset(data / f"{split}.jsonl"):
            by_title[example.text.split("\n", 1)[0].strip()].append(example)
    pairs = [(a, b) for group in by_title.values() for a, b in itertools.combinations(group, 2)
             if a.text != b.text and fuzz.ratio(a.text, b.text) >= similarity]
    figures: dict = {"near_duplicate_pairs": len(pairs)}
    for mode in ("exact", "fuzzy", "embedding"):
        triples = micro_prf((count_triple_matches([tuple(t) for t in a.triples],
                                                  [tuple(t) for t in b.triples], mode),
                             len(a.triples), len(b.triples)) for a, b in pairs)
        entities = micro_prf((count_matches(a.entities, b.entities, mode), len(a.entities),
                              len(b.entities)) for a, b in pairs)
        figures[f"teacher_self_{mode}_triple_f1"] = round(triples.f1, 3)
        figures[f"teacher_self_{mode}_entity_f1"] = round(entities.f1, 3)
    return figures


def student(name: str, spec: str, *, guard: bool = True, copy_filter: bool = True,
            exact_ends: bool = True, copy_spans: bool = True,
            batch_size: int = 8) -> System:
    # Cached: rows that differ only in how replies are read (copy filter, triple ends) decode
    # once; rows that decode differently (backend, guard) have their own cache keys.
    # The guard is switched off after the backend is built, so its key would not change: the
    # unguarded row is never cached.
    # The copy constraint is a decoding option too: its key is set before the model is named.
    settings = LLMSettings(spec=spec, cache=guard, repair=False, on_error="skip-and-record")
    llm = load_llm(spec, settings)
    backend = llm.backend
    if hasattr(backend, "batch_size"):
        backend.batch_size = batch_size
    if not guard:
        backend.repeat_guard = False
    if not copy_spans:
        backend.copy_spans = False
        backend.model = backend.model.replace("+copy", "")
    return System(name, lambda: StudentExtractor(llm, copy_filter=copy_filter,
                                                 exact_ends=exact_ends), llm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/distill"))
    parser.add_argument("--adapter", type=Path, required=True, help="a v2 adapter folder")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--rows", default="spacy,v1,v2-llamacpp,v2-transformers,no-copy,no-guard")
    args = parser.parse_args(argv)
    examples = read_dataset(args.data / "validation.jsonl")[:args.limit]
    v1, v2 = shipped_adapter("v1"), args.adapter
    builders = {
        "spacy": spacy_system,
        "v1": lambda: student("v1", f"student:{v1}"),
        "v1-as-shipped": lambda: student("v1-as-shipped", f"student:{v1}", copy_filter=False,
                                         exact_ends=False),
        "v1-llamacpp": lambda: student("v1-llamacpp", f"student-llamacpp:{v1}"),
        "v1-llamacpp-as-shipped": lambda: student("v1-llamacpp-as-shipped",
                                                  f"student-llamacpp:{v1}", copy_filter=False,
                                                  exact_ends=False),
        "v1-llamacpp-exact-ends": lambda: student("v1-llamacpp-exact-ends",
                                                  f"student-llamacpp:{v1}", copy_filter=False),
        "v2-llamacpp": lambda: student("v2-llamacpp", f"student-llamacpp:{v2}"),
        "v2-transformers": lambda: student("v2-transformers", f"student:{v2}"),
        "no-copy": lambda: student("no-copy", f"student-llamacpp:{v2}", copy_filter=False,
                                   copy_spans=False),
        "no-copy-constraint": lambda: student("no-copy-constraint", f"student-llamacpp:{v2}",
                                              copy_spans=False),
        "no-guard": lambda: student("no-guard", f"student-llamacpp:{v2}", guard=False),
    }
    figures: dict = {"passages": len(examples), "split": "validation", "rows": {}}
    print(f"{'row':18} {'entF1':>6} {'entP':>6} {'entR':>6} {'fuzzyT':>7} {'embT':>6} "
          f"{'valid':>6} {'chunk/s':>8}  (chunks/s is from the cache where a row only reads "
          f"replies an earlier row decoded)")
    for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
        report = evaluate_systems(examples, [builders[row]()])
        result = report.systems[row]
        modes = result.agreement.by_mode
        entities = modes["exact"].entities
        line = {"entity_f1": round(entities.f1, 3), "entity_p": round(entities.precision, 3),
                "entity_r": round(entities.recall, 3),
                "fuzzy_triple_f1": round(modes["fuzzy"].triples.f1, 3),
                "embedding_triple_f1": round(modes["embedding"].triples.f1, 3),
                "valid": result.json_valid_rate, "chunks_per_s": result.chunks_per_s,
                "completion_tokens": result.completion_tokens}
        figures["rows"][row] = line
        valid = "-" if line["valid"] is None else f"{line['valid']:.0%}"
        print(f"{row:18} {line['entity_f1']:6.3f} {line['entity_p']:6.3f} "
              f"{line['entity_r']:6.3f} {line['fuzzy_triple_f1']:7.3f} "
              f"{line['embedding_triple_f1']:6.3f} {valid:>6} {line['chunks_per_s']:8.2f}",
              flush=True)
    figures.update(format_figures(args.data))
    figures.update(teacher_self_agreement(args.data))
    print("teacher against itself on near-duplicate passages:",
          {k: v for k, v in figures.items() if k.startswith(("teacher_self", "near_dup"))})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
