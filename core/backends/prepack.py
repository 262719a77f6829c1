"""Pre-packed bf16 weights for CPU serving: oneDNN's blocked layout, made once at load.

    packed = prepack_linears(model)    # number of Linear layers now running pre-packed

A bf16 ``nn.Linear`` on CPU hands oneDNN a plain row-major weight, which it reorders into
its blocked (AMX / AVX512-BF16) layout on every call: at decode sizes that costs as much
as the product itself (measured here: a 576x1536 product at batch 32 took 95 us plain and
60 us pre-packed; the 49,152-row output layer 3.05 ms and 1.76 ms). ``prepack_linears``
reorders each bf16 Linear's weight once (``torch.ops.mkldnn._reorder_linear_weight``, the
op inductor's CPU weight freezing uses) and routes its forward through
``mkldnn._linear_pointwise``, which gives the same numbers (tested equal to
``F.linear``).

For serving only: the packed copy is made once, so later changes to the weights are not
seen (a model being trained is never packed), and it holds a second copy of each weight
(about 270 MB for the default teacher). Calls that need gradients fall back to
``F.linear``. Nothing is packed unless the model is bf16 on a CPU with native bf16 and
the first packed layer gives ``F.linear``'s output on a probe; otherwise the model is untouched.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)
BATCH_HINT = 32  # the row count oneDNN tunes the packed layout for (any count works)


def prepack_linears(model) -> int:
    """Pack every bf16 ``nn.Linear`` of a CPU ``model`` for inference; return how many."""
    import torch

    from core.dtype import native_bf16

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if (
        not linears
        or model.device.type != "cpu"
        or not native_bf16("cpu")
        or not torch.backends.mkldnn.is_available()
        or any(m.weight.dtype != torch.bfloat16 for m in linears)
    ):
        return 0
    first = linears[0]
    try:
        _pack(first)
        _check(first)
    except Exception as exc:  # an op missing or wrong in this torch build: stay plain
        first.__class__ = torch.nn.Linear
        first.__dict__.pop("_packed", None)
        log.warning("stillhouse: bf16 weights not pre-packed (%s); serving unpacked", exc)
        return 0
    for module in linears[1:]:
        _pack(module)
    return len(linears)


def _pack(module) -> None:
    module.__class__ = _packed_class()
    module.repack()


@functools.cache
def _packed_class() -> type:
    """``PackedLinear``, made on first use so that importing this module loads no torch."""
    import torch

    class PackedLinear(torch.nn.Linear):
        """An ``nn.Linear`` whose inference forward uses a weight packed once."""

        def repack(self) -> None:
            self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), BATCH_HINT)

        def forward(self, x):
            if x.requires_grad or x.dtype != torch.bfloat16:
                return torch.nn.functional.linear(x, self.weight, self.bias)
            if getattr(self, "_packed", None) is None:  # a copy: pack its own weight
                self.repack()
            return torch.ops.mkldnn._linear_pointwise(x, self._packed, self.bias, "none", [], "")

        def __getstate__(self):  # deepcopy / pickle: the packed copy cannot be copied
            state = dict(super().__getstate__())
            state.pop("_packed", None)
            return state

    return PackedLinear


def _check(module) -> None:
    """Raise unless the packed ``module`` gives ``F.linear``'s output on a random input."""
    import torch

    x = torch.randn(3, module.in_features, generator=torch.Generator().manual_seed(0))
    x = x.to(torch.bfloat16)
    with torch.inference_mode():
        got, want = module(x), torch.nn.functional.linear(x, module.weight, module.bias)
    if not torch.allclose(got.float(), want.float(), rtol=1e-2, atol=1e-2):
        raise ValueError("the packed product differs from F.linear")
