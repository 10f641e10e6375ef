"""`kgx distill data|train|eval`: build a student's training data, train it, measure it.

    kgx distill data --teacher-openie gpt35_openie.json --out data/
    kgx distill train data/ --out student/
    kgx distill eval data/ --student student/ --out report/
    kgx extract docs/ --extractor student --llm student:student/
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kgx.errors import ConfigError

distill_app = typer.Typer(
    help="Distil a teacher into a single-pass student: build the SFT data (data), fine-tune "
         "SmolLM2-135M-Instruct with LoRA (train), and compare the student with its teacher, "
         "the spaCy baseline and the untrained base model (eval).",
    no_args_is_help=True)


@distill_app.command("data")
def data(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for train/validation/test "
                                                          "JSONL and manifest.json")],
    teacher_openie: Annotated[list[Path] | None, typer.Option(
        "--teacher-openie", help="Teacher file in the teacher_openie format (HippoRAG OpenIE "
                                 "output: docs[].{title, passage, extracted_entities, "
                                 "extracted_triples}); repeatable")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", "-s", help="A kgx store holding a teacher extractor's run (with "
                              "--extractor)")] = None,
    extractor: Annotated[str | None, typer.Option(
        "--extractor", help="The teacher extractor whose stored facts become targets, e.g. "
                            "synthkg.v1 or direct.v1")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split by document")] = 13,
    validation: Annotated[float, typer.Option(help="Fraction of documents for validation")
                          ] = 0.1,
    test: Annotated[float, typer.Option(help="Fraction of documents for test (never trained "
                                             "on)")] = 0.1,
) -> None:
    """Build a chat-formatted SFT data set from teacher outputs, split by document.

    Each line of OUT/{train,validation,test}.jsonl holds the passage, the teacher's entities,
    triples (and propositions, when the teacher gives them) and `messages`: system and user
    turns with the student's prompt, and the assistant turn with the JSON the student must
    write. All passages of one document fall on the same side of the split, decided by a
    seeded hash of the document's name, so the split is reproducible.
    """
    from kgx.distill.data import (
        examples_from_store,
        examples_from_teacher_openie,
        split_by_document,
        write_dataset,
    )

    if not teacher_openie and not extractor:
        raise ConfigError("give a teacher: --teacher-openie FILE, or --store and --extractor "
                          "for a kgx teacher run.")
    spec = _split_spec(seed, validation, test)
    examples, sources = [], []
    for path in teacher_openie or []:
        examples += examples_from_teacher_openie(path)
        sources.append(str(path))
    if extractor:
        from kgx.graphdb import open_store

        with open_store(store, read_only=True) as graph:
            examples += examples_from_store(graph, extractor)
        sources.append(f"{store or 'kgx-store'}#{extractor}")
    manifest = write_dataset(out, split_by_document(examples, spec), spec=spec, sources=sources)
    console = Console()
    for name, counts in manifest["splits"].items():
        console.print(f"{name:<10} {counts['examples']:>6} examples "
                      f"{counts['documents']:>6} documents")
    console.print(f"written to {out}")


class ReplyFormat(str, Enum):
    """The student's reply formats (kgx.distill.format.FormatName)."""

    v1 = "v1"
    v2 = "v2"
    v3 = "v3"


class TrainMethod(str, Enum):
    """How `kgx distill train` fine-tunes (kgx.distill.train.TrainConfig.method)."""

    lora = "lora"
    full = "full"


@distill_app.command("train")
def train(
    data_dir: Annotated[Path, typer.Argument(help="Folder written by `kgx distill data`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the adapter (or model), "
                                                          "checkpoints and training curve")],
    base: Annotated[str, typer.Option(help="Base model: local (the bundled SmolLM2-135M GGUF, "
                                           "dequantized), a .gguf path, an HF folder or id")
                    ] = "local",
    method: Annotated[TrainMethod, typer.Option(
        help="lora, or full (full fine-tuning)")] = TrainMethod.lora,
    reply_format: Annotated[ReplyFormat, typer.Option(
        "--format", help="Reply format to learn: v3 (compact lines, triples written out; the "
                    "default), v2 (lines, triple ends by entity number) or v1 (JSON)")
    ] = ReplyFormat.v3,
    init_adapter: Annotated[Path | None, typer.Option(help="Warm start: continue from this "
                                                      "LoRA adapter's weights")] = None,
    top_layers: Annotated[int | None, typer.Option(min=1, help="Train the LoRA weights of "
                                                   "the top N layers only (faster steps)")
                          ] = None,
    epochs: Annotated[float, typer.Option(min=0.01)] = 1.0,
    max_steps: Annotated[int, typer.Option(help="Stop after N optimizer steps (-1: epochs)")
                         ] = -1,
    learning_rate: Annotated[float, typer.Option("--lr")] = 1e-3,
    batch_size: Annotated[int, typer.Option(min=1)] = 2,
    grad_accumulation: Annotated[int, typer.Option(min=1)] = 4,
    max_length: Annotated[int, typer.Option(min=32, help="Tokens per example (longer ones "
                                                         "are truncated)")] = 768,
    lora_rank: Annotated[int, typer.Option(min=1)] = 16,
    limit: Annotated[int | None, typer.Option(help="Train on the first N examples only")
                     ] = None,
    save_steps: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps")] = 20,
    eval_examples: Annotated[int, typer.Option(min=0, help="Validation examples for the "
                                                           "eval loss")] = 16,
    seed: int = 13,
) -> None:
    """Fine-tune the student with TRL SFT and PEFT LoRA (or full fine-tuning).

    Loss is on the reply tokens only. Checkpoints go to OUT/checkpoints; running the same
    command again resumes from the newest one. The result (adapter or model) lands in OUT with
    training.json (config, data manifest, losses) and training_curve.png. Use it with
    `kgx extract --extractor student --llm student:OUT`.
    """
    from pydantic import ValidationError

    from kgx.distill.train import TrainConfig, train_student

    try:
        config = TrainConfig(data=data_dir, out=out, base=base, method=method.value,
                             format=reply_format.value, init_adapter=init_adapter,
                             top_layers=top_layers, epochs=epochs,
                             max_steps=max_steps, learning_rate=learning_rate,
                             batch_size=batch_size, grad_accumulation=grad_accumulation,
                             max_length=max_length, lora_rank=lora_rank,
                             lora_alpha=2 * lora_rank, limit=limit, save_steps=save_steps,
                             eval_examples=eval_examples, seed=seed)
    except ValidationError as e:
        raise ConfigError(f"bad training option: {e.errors()[0]['msg']}") from e
    summary = train_student(config)
    Console().print(f"trained {summary['global_step']} steps on {summary['train_examples']} "
                    f"examples, final train loss {summary['train_loss']:.3f}; saved to {out}")


@distill_app.command("eval")
def eval_(
    data_dir: Annotated[Path, typer.Argument(help="Folder written by `kgx distill data` (its "
                                                  "test.jsonl is used), or a split .jsonl")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for distill.json/.md")],
    student: Annotated[str, typer.Option(
        help="The student: shipped (kgx's own), a folder from `kgx distill train`, or any LLM "
             "spec")] = "shipped",
    systems: Annotated[str, typer.Option(
        help="Comma list of: student, spacy, base (the untrained SmolLM2 on the same prompt), "
             "or NAME=LLM_SPEC for any other student, e.g. v1=student:v1 or "
             "llamacpp=student-llamacpp")] = "student,spacy,base",
    limit: Annotated[int | None, typer.Option(help="First N test passages only")] = None,
    base_limit: Annotated[int | None, typer.Option(
        help="First N passages for the base model (it writes until the token cap, so it is "
             "slow)")] = None,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Passages per generate call (the llama.cpp student decodes 16 at a time "
                    "on each core)")] = 256,
    max_tokens: Annotated[int, typer.Option(min=16, help="Reply token cap")] = 768,
) -> None:
    """Compare the student with its teacher on the held-out test split.

    Reports entity F1 and triple F1 (exact, normalized, fuzzy, embedding) against the teacher,
    JSON-valid rate, LLM calls per document and chunks/s, for the student, the spaCy baseline
    and the untrained base model side by side. Writes OUT/distill.json and OUT/distill.md.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from kgx.distill.data import read_dataset
    from kgx.distill.evaluate import (
        base_system,
        evaluate_systems,
        report_markdown,
        spacy_system,
        student_system,
    )
    from kgx.evaluation.reports import write_report

    path = data_dir / "test.jsonl" if data_dir.is_dir() else data_dir
    examples = read_dataset(path)[:limit]
    items = [s.strip() for s in systems.split(",") if s.strip()]
    specs = dict(item.split("=", 1) for item in items if "=" in item)
    names = [item.split("=", 1)[0] for item in items]
    unknown = set(names) - {"student", "spacy", "base"} - set(specs)
    if unknown or not names:
        raise ConfigError(f"unknown systems {sorted(unknown)}; use student, spacy, base or "
                          f"NAME=LLM_SPEC.")
    spec = ("student" if student == "shipped" else
            f"student:{student}" if Path(student).is_dir() else student)
    console = Console()
    progress = Progress("[progress.description]{task.description}", BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    tasks: dict[str, int] = {}

    def on_progress(name: str):
        tasks[name] = progress.add_task(name, total=None)
        return lambda done, total: progress.update(tasks[name], completed=done, total=total)

    reports = []
    with progress:
        for name in names:
            subset = examples[:base_limit] if name == "base" and base_limit else examples
            if name == "spacy":
                system = spacy_system()
            elif name == "base":
                system = base_system(batch_size=batch_size, max_tokens=max_tokens)
            else:
                system = student_system(name, specs.get(name, spec), batch_size=batch_size,
                                        max_tokens=max_tokens)
            reports.append(evaluate_systems(subset, [system], batch_size=batch_size,
                                            progress=on_progress))
    merged = reports[0].model_copy(update={"systems": {k: v for r in reports
                                                       for k, v in r.systems.items()}})
    markdown = report_markdown(merged)
    if base_limit and "base" in names:
        markdown += f"\n\nThe base model ran on the first {base_limit} passages only.\n"
    written = write_report(out, "distill", merged, markdown)
    console.print(markdown)
    console.print("written: " + ", ".join(str(p) for p in written))


def _split_spec(seed: int, validation: float, test: float):
    from pydantic import ValidationError

    from kgx.distill.data import SplitSpec

    try:
        return SplitSpec(seed=seed, validation=validation, test=test)
    except ValidationError as e:
        raise ConfigError(f"bad split: {e.errors()[0]['msg']}") from e
