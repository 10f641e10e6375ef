"""Beam search for the student: quality and speed of each width, side by side with greedy.

The shipped student (`student-llamacpp`: merged weights, continuous batching, the line guard,
the copy constraint and the reader's confidence floor) decodes the first --limit passages of
the VALIDATION split once per beam width (`$KGX_STUDENT_BEAMS`, a fresh LLM cache each, so
every figure is a fresh decode), and `kgx distill eval`'s code scores the replies against the
teacher. The peer is greedy decoding (width 1, the default): the ratio columns are a width's
fuzzy triple F1 and chunks/s over greedy's, measured in this run.

    python benchmarks/student_beams.py [--data DATA/] [--limit 156] [--beams 1,2]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from _student import FIGURE_HEADER, figure_cells, triple_figures, validation_args

from kgx.distill.evaluate import System, evaluate_systems
from kgx.extractors.student import StudentExtractor
from kgx.llm.spec import LLMSettings, load_llm


def main(argv: list[str] | None = None) -> int:
    args, examples = validation_args(__doc__.splitlines()[0], argv, beams="1,2")
    widths = [int(b) for b in args.beams.split(",")]
    if widths[0] != 1:
        widths.insert(0, 1)  # the peer
    figures: dict = {"passages": len(examples), "split": "validation", "beams": {}}
    print(f"{'beams':>5} {FIGURE_HEADER} {'valid':>6} {'chunk/s':>7} {'F1 x':>5} "
          f"{'speed x':>7}")
    peer = None
    for width in widths:
        os.environ["KGX_STUDENT_BEAMS"] = str(width)
        with tempfile.TemporaryDirectory() as cache:
            llm = load_llm("student-llamacpp", LLMSettings(
                spec="student-llamacpp", cache=True, cache_dir=Path(cache), repair=False,
                on_error="skip-and-record"))
            llm.backend.batch_size = len(examples)
            name = f"beams-{width}"
            system = System(name, lambda llm=llm: StudentExtractor(llm), llm)
            report = evaluate_systems(examples, [system], batch_size=len(examples))
            result = report.systems[name]
            llm.close()
        line = {**triple_figures(result), "format_valid": round(result.json_valid_rate, 4),
                "chunks_per_s": round(result.chunks_per_s, 3)}
        peer = peer or line
        line["f1_ratio"] = round(line["fuzzy_f1"] / peer["fuzzy_f1"], 3) if peer[
            "fuzzy_f1"] else None
        line["speed_ratio"] = round(line["chunks_per_s"] / peer["chunks_per_s"], 3)
        figures["beams"][str(width)] = line
        print(f"{width:5d} {figure_cells(line)} {line['format_valid']:6.1%} "
              f"{line['chunks_per_s']:7.2f} {line['f1_ratio'] or 0:5.2f} "
              f"{line['speed_ratio']:7.2f}", flush=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
