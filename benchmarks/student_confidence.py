"""The student's triple confidence floor: what each floor keeps, side by side with keeping all.

The shipped student (`student-llamacpp`) decodes the first --limit passages of the VALIDATION
split once (the LLM cache goes to a temporary folder, so the replies are fresh and every floor
reads the same ones); the real `StudentExtractor` then reads them at each --floors value and
`kgx distill eval`'s code scores each reading against the teacher. The peer is floor 0 (every
triple kept, the reader before confidences): the ratio columns are a floor's triple precision
and F1 over the peer's.

    python benchmarks/student_confidence.py [--data DATA/] [--limit 156] [--floors 0,0.6,0.7,0.8]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _student import FIGURE_HEADER, figure_cells, triple_figures, validation_args

from kgx.distill.evaluate import System, evaluate_systems
from kgx.extractors.student import StudentExtractor
from kgx.llm.spec import LLMSettings, load_llm


def main(argv: list[str] | None = None) -> int:
    args, examples = validation_args(__doc__.splitlines()[0], argv,
                                     floors="0,0.5,0.6,0.7,0.75,0.8,0.9")
    floors = [float(f) for f in args.floors.split(",")]
    if floors[0] != 0.0:
        floors.insert(0, 0.0)  # the peer
    figures: dict = {"passages": len(examples), "split": "validation", "floors": {}}
    print(f"{'floor':>5} {FIGURE_HEADER} {'P x':>5} {'F1 x':>5}")
    with tempfile.TemporaryDirectory() as cache:
        llm = load_llm("student-llamacpp", LLMSettings(
            spec="student-llamacpp", cache=True, cache_dir=Path(cache), repair=False,
            on_error="skip-and-record"))
        llm.backend.batch_size = len(examples)
        peer = None
        for floor in floors:
            name = f"floor-{floor:g}"
            system = System(name, lambda floor=floor: StudentExtractor(llm, min_confidence=floor),
                            llm)
            report = evaluate_systems(examples, [system], batch_size=len(examples))
            line = triple_figures(report.systems[name])
            peer = peer or line
            line["precision_ratio"] = round(line["fuzzy_p"] / peer["fuzzy_p"], 3) if peer[
                "fuzzy_p"] else None
            line["f1_ratio"] = round(line["fuzzy_f1"] / peer["fuzzy_f1"], 3) if peer[
                "fuzzy_f1"] else None
            figures["floors"][f"{floor:g}"] = line
            print(f"{floor:5.2f} {figure_cells(line)} {line['precision_ratio'] or 0:5.2f} "
                  f"{line['f1_ratio'] or 0:5.2f}", flush=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
