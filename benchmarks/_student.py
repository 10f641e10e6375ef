"""What the student benchmarks share: their command line over the validation split, and the
figures they read off one system's `kgx distill eval` result."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kgx.distill.data import Example, read_dataset


def validation_args(description: str, argv: list[str] | None,
                    **options: str) -> tuple[argparse.Namespace, list[Example]]:
    """--data and --limit (the first N validation passages), plus each `options` name as an
    option with that default; the parsed arguments and the passages."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=Path("data/distill"))
    parser.add_argument("--limit", type=int, default=156)
    for name, default in options.items():
        parser.add_argument(f"--{name}", default=default)
    args = parser.parse_args(argv)
    return args, read_dataset(args.data / "validation.jsonl")[:args.limit]


def triple_figures(result: Any) -> dict[str, Any]:
    """Entity F1, triple count, fuzzy P / R / F1, embedding and exact F1 of one system."""
    modes = result.agreement.by_mode
    fuzzy = modes["fuzzy"].triples
    return {"entity_f1": round(modes["exact"].entities.f1, 4), "triples": fuzzy.predicted,
            "fuzzy_p": round(fuzzy.precision, 4), "fuzzy_r": round(fuzzy.recall, 4),
            "fuzzy_f1": round(fuzzy.f1, 4),
            "embedding_f1": round(modes["embedding"].triples.f1, 4),
            "exact_f1": round(modes["exact"].triples.f1, 4)}


FIGURE_HEADER = (f"{'entF1':>6} {'triples':>7} {'fuzzyP':>6} {'fuzzyR':>6} {'fuzzyF1':>7} "
                 f"{'embF1':>6} {'exactF1':>7}")
"""The columns `figure_cells` fills."""


def figure_cells(line: dict[str, Any]) -> str:
    """`triple_figures` as table cells under `FIGURE_HEADER`."""
    return (f"{line['entity_f1']:6.3f} {line['triples']:7d} {line['fuzzy_p']:6.3f} "
            f"{line['fuzzy_r']:6.3f} {line['fuzzy_f1']:7.3f} {line['embedding_f1']:6.3f} "
            f"{line['exact_f1']:7.3f}")
