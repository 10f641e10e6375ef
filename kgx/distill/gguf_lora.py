"""A PEFT LoRA adapter as a llama.cpp GGUF LoRA adapter, so llama.cpp can serve the student.

The student's adapter is trained on the weights transformers dequantizes from the base GGUF,
which transformers un-permutes back to Hugging Face order. llama.cpp keeps q_proj and k_proj
rows permuted for its rotary embedding, so the LoRA B matrices of q and k get the same row
permutation here; without it the adapter would add its update to the wrong rows.

    gguf = convert_adapter("runs/student", "/tmp/student-lora.gguf", bundled_gguf())
    gguf = cached_gguf_adapter("runs/student", bundled_gguf())   # converts once, then reuses

`merge_adapter` writes instead a whole model with the adapter folded into its weights (each
adapted matrix dequantized, plus scale · B·A, quantized to Q8_0): llama.cpp then runs one matrix
product per projection instead of three, which the student's serving uses
(`cached_merged_gguf`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from kgx.errors import ConfigError, require

CONVERTER_VERSION = "kgx.gguf_lora.v1"
MERGER_VERSION = "kgx.gguf_merge.v1"
MERGE_QTYPE = "Q8_0"
"""The ggml type `merge_adapter` stores merged matrices in unless told otherwise."""
"""Part of every cached file's key: a change to the conversion is a new version."""

PEFT_PREFIX = "base_model.model."
_SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}


def convert_adapter(adapter_dir: str | Path, out_path: str | Path,
                    base_gguf: str | Path) -> Path:
    """Write the PEFT adapter in `adapter_dir` as a GGUF LoRA adapter for `base_gguf`."""
    gguf = require("gguf", "local")
    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    alpha = _gguf_alpha(_adapter_config(adapter_dir))
    base = _base_metadata(gguf, Path(base_gguf))
    names = gguf.get_tensor_name_map(_arch_enum(gguf, base["arch"]), base["blocks"])
    pairs = _lora_pairs(_read_safetensors(adapter_dir / "adapter_model.safetensors"))
    writer = gguf.GGUFWriter(str(out_path), base["arch"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module, (lora_a, lora_b) in sorted(pairs.items()):
        name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise ConfigError(f"{adapter_dir}: llama.cpp has no tensor for the adapted module "
                              f"{module!r}; adapt only attention and MLP projections.")
        lora_b = _rotary_rows(name, lora_b, base)
        writer.add_tensor(name + ".lora_a", lora_a.astype("float32"))
        writer.add_tensor(name + ".lora_b", lora_b.astype("float32"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def merge_adapter(adapter_dir: str | Path, out_path: str | Path, base_gguf: str | Path, *,
                  qtype: str = MERGE_QTYPE) -> Path:
    """Write `base_gguf` with the PEFT adapter in `adapter_dir` merged into its weights: each
    adapted matrix becomes W + (alpha / r) · B·A, stored as `qtype` (a ggml type name); the
    rest is copied as is."""
    gguf = require("gguf", "local")
    import numpy as np

    adapter_dir, out_path, base_gguf = Path(adapter_dir), Path(out_path), Path(base_gguf)
    config = _adapter_config(adapter_dir)
    scale = _gguf_alpha(config) / int(config["r"])
    base = _base_metadata(gguf, base_gguf)
    names = gguf.get_tensor_name_map(_arch_enum(gguf, base["arch"]), base["blocks"])
    updates = {}
    for module, (lora_a, lora_b) in _lora_pairs(
            _read_safetensors(adapter_dir / "adapter_model.safetensors")).items():
        name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise ConfigError(f"{adapter_dir}: llama.cpp has no tensor for the adapted module "
                              f"{module!r}; adapt only attention and MLP projections.")
        updates[name] = (lora_a, _rotary_rows(name, lora_b, base))
    reader = gguf.GGUFReader(str(base_gguf))
    writer = gguf.GGUFWriter(str(out_path), base["arch"])
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        kind = gguf.GGUFValueType(field.types[0])
        sub = gguf.GGUFValueType(field.types[-1]) if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub)
    quant = gguf.GGMLQuantizationType[qtype]
    for tensor in reader.tensors:
        if tensor.name not in updates:
            writer.add_tensor(tensor.name, np.array(tensor.data), raw_dtype=tensor.tensor_type)
            continue
        lora_a, lora_b = updates.pop(tensor.name)
        weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weight += scale * (lora_b.astype(np.float32) @ lora_a.astype(np.float32))
        writer.add_tensor(tensor.name, gguf.quants.quantize(weight, quant), raw_dtype=quant)
    if updates:
        raise ConfigError(f"{base_gguf} has no tensors {sorted(updates)[:3]} that the adapter "
                          f"{adapter_dir} adapts; was it trained on this base model?")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def cached_gguf_adapter(adapter_dir: str | Path, base_gguf: str | Path) -> Path:
    """The GGUF form of an adapter, converted once and kept next to it (or in the kgx cache
    when its folder is read-only, as the shipped adapter can be); a changed adapter is
    converted again, since its hash names the file."""
    return _cached(Path(adapter_dir), Path(base_gguf), merged=None)


def cached_merged_gguf(adapter_dir: str | Path, base_gguf: str | Path, *,
                       qtype: str = MERGE_QTYPE) -> Path:
    """`base_gguf` with the adapter merged in (`merge_adapter`, adapted matrices stored as
    `qtype`), written once and kept like `cached_gguf_adapter`'s files."""
    return _cached(Path(adapter_dir), Path(base_gguf), merged=qtype)


def _cached(adapter_dir: Path, base_gguf: Path, *, merged: str | None) -> Path:
    """`merged`: the ggml type of a merged model's adapted matrices; None for a GGUF LoRA."""
    stem = "merged_model" if merged else "adapter_model"
    name = f"{stem}.{_conversion_key(adapter_dir, base_gguf, merged)}.gguf"
    for folder in (adapter_dir, _cache_folder()):
        if (folder / name).is_file():
            return folder / name
    try:
        return _convert_atomically(adapter_dir, adapter_dir, name, base_gguf, merged)
    except OSError:  # a read-only folder, such as the shipped adapter in site-packages
        pass
    try:
        return _convert_atomically(adapter_dir, _cache_folder(), name, base_gguf, merged)
    except OSError as e:
        raise ConfigError(f"Cannot write the GGUF form of {adapter_dir} there or in "
                          f"{_cache_folder()} ({e}); point $KGX_CACHE_DIR at a writable "
                          f"folder.") from e


def _convert_atomically(adapter_dir: Path, folder: Path, name: str, base_gguf: Path,
                        merged: str | None) -> Path:
    """Convert into a temporary file in `folder`, then rename: readers never see half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".adapter-", suffix=".gguf")
    os.close(handle)
    try:
        if merged:
            merge_adapter(adapter_dir, temporary, base_gguf, qtype=merged)
        else:
            convert_adapter(adapter_dir, temporary, base_gguf)
        os.replace(temporary, folder / name)
    finally:
        Path(temporary).unlink(missing_ok=True)
    if folder == adapter_dir:  # drop the conversions of earlier weights in this folder
        stem = name.split(".", 1)[0]
        for stale in folder.glob(f"{stem}.*.gguf"):
            if stale.name != name:
                stale.unlink(missing_ok=True)
    return folder / name


def _conversion_key(adapter_dir: Path, base_gguf: Path, merged: str | None = None) -> str:
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"No LoRA adapter at {adapter_dir} (adapter_model.safetensors is "
                          f"missing); give the --out folder of `kgx distill train`.")
    version = f"{MERGER_VERSION}.{merged}" if merged else CONVERTER_VERSION
    digest = hashlib.sha256(version.encode() + base_gguf.name.encode())
    digest.update((adapter_dir / "adapter_config.json").read_bytes())
    digest.update(weights.read_bytes())
    return digest.hexdigest()[:16]


def _cache_folder() -> Path:
    from kgx.llm.cache import default_cache_dir

    return default_cache_dir() / "gguf-adapters"


def _adapter_config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "adapter_config.json"
    if not path.is_file():
        raise ConfigError(f"No LoRA adapter at {adapter_dir} (adapter_config.json is missing); "
                          f"give the --out folder of `kgx distill train`.")
    return json.loads(path.read_text())


def _gguf_alpha(config: dict[str, Any]) -> float:
    """The alpha llama.cpp needs to scale by alpha / r as PEFT scales this adapter."""
    unsupported = [key for key in ("use_dora", "rank_pattern", "alpha_pattern",
                                   "fan_in_fan_out", "modules_to_save") if config.get(key)]
    if config.get("peft_type", "LORA") != "LORA" or unsupported:
        raise ConfigError(f"llama.cpp serves plain LoRA adapters only; this one sets "
                          f"{unsupported or config.get('peft_type')}. Serve it with the "
                          f"`student:PATH` spec (transformers) instead.")
    alpha, rank = float(config["lora_alpha"]), int(config["r"])
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha  # rsLoRA: alpha/√r


def _base_metadata(gguf: Any, base_gguf: Path) -> dict[str, Any]:
    """Architecture, block count and head counts of the base model."""
    if not base_gguf.is_file():
        raise ConfigError(f"No base GGUF model at {base_gguf}.")
    fields = gguf.GGUFReader(str(base_gguf)).fields

    def value(key: str) -> Any:
        if key not in fields:
            raise ConfigError(f"{base_gguf} has no {key!r} metadata; is it a llama.cpp model?")
        return fields[key].contents()

    arch = value("general.architecture")
    heads = int(value(f"{arch}.attention.head_count"))
    kv_key = f"{arch}.attention.head_count_kv"
    return {"arch": arch, "blocks": int(value(f"{arch}.block_count")), "heads": heads,
            "kv_heads": int(fields[kv_key].contents()) if kv_key in fields else heads}


def _arch_enum(gguf: Any, arch: str) -> Any:
    for enum, name in gguf.MODEL_ARCH_NAMES.items():
        if name == arch:
            return enum
    raise ConfigError(f"The gguf package does not know the architecture {arch!r}; upgrade it "
                      f"with pip install -U gguf.")


def _rotary_rows(name: str, lora_b: Any, base: dict[str, Any]) -> Any:
    """LoRA B with its rows in llama.cpp's rotary order, for the q and k projections."""
    if base["arch"] != "llama":  # only llama-family conversions permute q and k
        return lora_b
    if name.endswith("attn_q.weight"):
        return _permute_rotary(lora_b, base["heads"])
    if name.endswith("attn_k.weight"):
        return _permute_rotary(lora_b, base["kv_heads"])
    return lora_b


def _permute_rotary(rows: Any, heads: int) -> Any:
    """Within each head, interleave the two rotary halves, as llama.cpp's converter does."""
    out = rows.shape[0]
    return (rows.reshape(heads, 2, out // heads // 2, *rows.shape[1:])
            .swapaxes(1, 2).reshape(rows.shape))


def _lora_pairs(tensors: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{HF module name: (lora_A [r, in], lora_B [out, r])} from PEFT's tensor names."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        for part in ("lora_A", "lora_B"):
            suffix = f".{part}.weight"
            if key.endswith(suffix):
                module = key.removeprefix(PEFT_PREFIX).removesuffix(suffix)
                pairs.setdefault(module, {})[part] = tensor
                break
        else:
            raise ConfigError(f"The adapter holds {key!r}, which is not a LoRA A or B matrix; "
                              f"llama.cpp serves plain LoRA adapters only.")
    incomplete = [m for m, parts in pairs.items() if len(parts) != 2]
    if incomplete:
        raise ConfigError(f"The adapter lacks A or B for {incomplete[:3]}; is it complete?")
    return {m: (parts["lora_A"], parts["lora_B"]) for m, parts in pairs.items()}


def _read_safetensors(path: Path) -> dict[str, Any]:
    """The tensors of a safetensors file as numpy arrays (bfloat16 widened to float32)."""
    import numpy as np

    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    data = memoryview(raw)[8 + length:]
    tensors = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ConfigError(f"{path}: tensor {key!r} is {info['dtype']}; the converter reads "
                              f"F32, F16 and BF16 adapters.")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_SAFETENSORS_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[key] = array.reshape(info["shape"])
    return tensors
