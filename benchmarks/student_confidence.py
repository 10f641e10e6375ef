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

import argparse
import json
import sys
import tempfile
from pathlib import Path

from kgx.distill.data import read_dataset
from kgx.distill.evaluate import System, evaluate_systems
from kgx.extractors.student import StudentExtractor
from kgx.llm.spec import LLMSettings, load_llm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/distill"))
    parser.add_argument("--limit", type=int, default=156)
    parser.add_argument("--floors", default="0,0.5,0.6,0.7,0.75,0.8,0.9")
    args = parser.parse_args(argv)
    examples = read_dataset(args.data / "validation.jsonl")[:args.limit]
    floors = [float(f) for f in args.floors.split(",")]
    if floors[0] != 0.0:
        floors.insert(0, 0.0)  # the peer
    figures: dict = {"passages": len(examples), "split": "validation", "floors": {}}
    print(f"{'floor':>5} {'entF1':>6} {'triples':>7} {'fuzzyP':>6} {'fuzzyR':>6} {'fuzzyF1':>7} "
          f"{'embF1':>6} {'exactF1':>7} {'P x':>5} {'F1 x':>5}")
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
            modes = report.systems[name].agreement.by_mode
            fuzzy = modes["fuzzy"].triples
            line = {"entity_f1": round(modes["exact"].entities.f1, 4),
                    "triples": fuzzy.predicted, "fuzzy_p": round(fuzzy.precision, 4),
                    "fuzzy_r": round(fuzzy.recall, 4), "fuzzy_f1": round(fuzzy.f1, 4),
                    "embedding_f1": round(modes["embedding"].triples.f1, 4),
                    "exact_f1": round(modes["exact"].triples.f1, 4)}
            peer = peer or line
            line["precision_ratio"] = round(line["fuzzy_p"] / peer["fuzzy_p"], 3) if peer[
                "fuzzy_p"] else None
            line["f1_ratio"] = round(line["fuzzy_f1"] / peer["fuzzy_f1"], 3) if peer[
                "fuzzy_f1"] else None
            figures["floors"][f"{floor:g}"] = line
            print(f"{floor:5.2f} {line['entity_f1']:6.3f} {line['triples']:7d} "
                  f"{line['fuzzy_p']:6.3f} {line['fuzzy_r']:6.3f} {line['fuzzy_f1']:7.3f} "
                  f"{line['embedding_f1']:6.3f} {line['exact_f1']:7.3f} "
                  f"{line['precision_ratio'] or 0:5.2f} {line['f1_ratio'] or 0:5.2f}", flush=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
