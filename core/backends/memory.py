"""How much of one GPU each vLLM engine may take when several models share it.

    split_gpu_memory([15_200_000_000, 990_000_000], total_bytes=80 * 2**30)
    # -> [0.79, 0.11]: each model's weights, a KV-cache floor each, the rest by weight size

vLLM reserves ``gpu_memory_utilization x total`` for one engine at start-up (weights, activations
and KV cache), and a second engine on the same GPU fails unless the two shares fit together. The
split gives every model its weights plus ``min_kv_bytes`` of KV cache, then shares what remains
of ``budget x total`` in proportion to the weights (a bigger model has wider KV rows too). Pure
arithmetic, tested on CPU; ``served_shares`` reads weight sizes from disk and the GPU's size from
CUDA.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.specs import ModelSpec

GiB = 2**30


def split_gpu_memory(
    weight_bytes: list[int],
    total_bytes: int,
    *,
    budget: float = 0.90,
    min_kv_bytes: int = GiB,
) -> list[float]:
    """``gpu_memory_utilization`` per model, summing to ``budget``; refuses what cannot fit."""
    if not weight_bytes or min(weight_bytes) <= 0:
        raise InputError("bad_memory_split", "every model needs a positive weight size")
    if not 0 < budget <= 1:
        raise InputError("bad_gpu_memory", f"the GPU memory share must be in (0, 1], got {budget}")
    usable = budget * total_bytes
    weights = sum(weight_bytes)
    spare = usable - weights - min_kv_bytes * len(weight_bytes)
    if spare < 0:
        need = (weights + min_kv_bytes * len(weight_bytes)) / GiB
        raise InputError(
            "gpu_too_small",
            f"the models need {need:.1f} GiB (weights plus {min_kv_bytes / GiB:.1f} GiB of KV "
            f"cache each) but {budget:.0%} of this GPU is {usable / GiB:.1f} GiB",
            hint="serve one of them elsewhere (an OpenAI-compatible URL) or use a bigger GPU",
        )
    return [(w + min_kv_bytes + spare * w / weights) / total_bytes for w in weight_bytes]


def weights_size(folder: Path) -> int:
    """Bytes of a model folder's weight files (safetensors, bin, gguf)."""
    patterns = ("*.safetensors", "*.bin", "*.gguf", "*.pt")
    return sum(p.stat().st_size for pattern in patterns for p in Path(folder).glob(pattern))


def served_shares(specs: list[ModelSpec], budget: float | None = None) -> list[ModelSpec]:
    """The specs with ``gpu_memory_utilization`` set for sharing GPU 0; a spec that already
    names its share keeps it, and the others split what that leaves."""
    import torch

    from core.models import prepare_model

    fixed = sum(s.gpu_memory_utilization or 0.0 for s in specs)
    open_specs = [s for s in specs if s.gpu_memory_utilization is None and s.source != "openai"]
    if not open_specs:
        return specs
    total = torch.cuda.get_device_properties(0).total_memory
    sizes = [max(weights_size(prepare_model(s).path), 1) for s in open_specs]
    left = (budget or 0.90) - fixed
    if left <= 0:
        raise InputError(
            "gpu_too_small", "the models' own gpu_memory_utilization leave nothing for the others"
        )
    shares = iter(split_gpu_memory(sizes, total, budget=left))
    return [
        s.model_copy(update={"gpu_memory_utilization": next(shares)}) if s in open_specs else s
        for s in specs
    ]


def free_cuda_memory() -> None:
    """Collect garbage and return cached CUDA blocks to the driver (no-op without CUDA)."""
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
