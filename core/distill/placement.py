"""Where the teacher lives during a distillation run, so that it is on a GPU only while needed.

    device = teacher_load_device(config)           # "cpu" in top-k mode on CUDA machines
    with teacher_on_gpu(teacher, student):         # cache build, baseline, final evaluation
        ...

In top-k mode (``topk > 0``) training reads the teacher's cached log-probs, not the teacher: a 7B
teacher in bf16 (15 GB) would otherwise sit on every GPU for the whole run. It is loaded on the
CPU and moved to this process's GPU (``cuda:LOCAL_RANK``) only for the passes that need it, then
moved back and the CUDA cache emptied. Dense KD (``topk = 0``) needs it in every step, so there it
stays on the GPU. Without CUDA everything is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def rank_device() -> str:
    """This process's device: ``cuda:LOCAL_RANK`` on CUDA machines, else ``cpu``."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def teacher_load_device(config) -> str:
    """Where to load the teacher: on the CPU in top-k mode, on this process's GPU for dense KD."""
    return "cpu" if config.topk > 0 else rank_device()


@contextmanager
def teacher_on_gpu(teacher, student=None) -> Iterator[None]:
    """Move a CPU-parked teacher (and the student beside it) to this process's GPU for the
    block; park the teacher on the CPU again afterwards."""
    device = rank_device()
    parked = teacher is not None and next(teacher.parameters()).device.type == "cpu"
    if device == "cpu" or not parked:
        yield
        return
    teacher.to(device)
    if student is not None:
        student.to(device)
    try:
        yield
    finally:
        teacher.to("cpu")
        from core.backends.memory import free_cuda_memory

        free_cuda_memory()


def teacher_tokenizer(spec):
    """The teacher's tokenizer alone, set up as ``load_causal_lm`` sets it (pad, left side)."""
    from transformers import AutoTokenizer

    from core.models import prepare_model

    tokenizer = AutoTokenizer.from_pretrained(
        str(prepare_model(spec).path), local_files_only=spec.source != "hf"
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
