"""Which weights dtype to serve in: bf16 where the hardware computes it natively, else float32.

    serving_dtype()                 # "bfloat16" on CUDA or a CPU with AMX / AVX512-BF16
    serving_dtype("float32")        # an explicit choice always wins
    native_bf16("cpu")              # does this CPU compute bf16 in hardware?

Order of precedence: the caller's ``dtype`` (``--dtype``), then ``$STILLHOUSE_DTYPE``, then
the hardware pick. bf16 asked for on a CPU without native bf16 still runs (torch emulates
it, slowly) and logs one warning line. Used by serving and teacher generation only;
training and evaluation keep the dtype their configs name.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

DTYPES = ("float32", "bfloat16", "float16")
ENV = "STILLHOUSE_DTYPE"
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
log = logging.getLogger("stillhouse")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (empty where /proc/cpuinfo is not there)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: str = "cpu") -> bool:
    """True on CUDA, and on CPUs with AMX-BF16 or AVX512-BF16 instructions."""
    if device.startswith("cuda"):
        return True
    if any(flag in cpu_flags() for flag in _BF16_FLAGS):
        return True
    import torch

    return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")


def default_device() -> str:
    """cuda when a GPU is usable, else cpu."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def serving_dtype(requested: str | None = None, device: str | None = None) -> str:
    """The dtype to serve in: ``requested``, else ``$STILLHOUSE_DTYPE``, else by hardware."""
    from core.errors import InputError

    device = device or default_device()
    choice = requested or os.environ.get(ENV) or None
    if choice is None:
        return "bfloat16" if native_bf16(device) else "float32"
    if choice not in DTYPES:
        raise InputError(
            "bad_dtype",
            f"dtype must be one of {', '.join(DTYPES)}, got {choice}",
            hint=f"check --dtype or ${ENV}",
        )
    if choice == "bfloat16" and not native_bf16(device):
        log.warning(
            "stillhouse: this CPU has no native bf16 (AMX / AVX512-BF16): bfloat16 runs emulated "
            "and slower than float32"
        )
    return choice
