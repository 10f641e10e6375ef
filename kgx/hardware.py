"""What this machine's CPU can do, where kgx picks a number format by it."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cpu_has_bf16() -> bool:
    """Whether the CPU has bfloat16 dot products: x86 AVX512-BF16 or AMX-BF16, or ARM's BF16
    extension (Linux's /proc/cpuinfo flags; False where that file is missing)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    flags = {flag for line in info.splitlines() if line.startswith(("flags", "Features"))
             for flag in line.partition(":")[2].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
