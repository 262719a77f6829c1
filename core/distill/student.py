"""Students: a teacher with decoder layers dropped, or a given smaller model with the same
tokenizer.

    student, kept = prune_layers(
        teacher, n_keep=8, method="uniform"
    )   # a new model; teacher untouched
    check_tokenizers(teacher_tok, student_tok, "smollm2-135m-instruct", "my-student")

``uniform`` keeps evenly spaced layers, always the first and the last (DistilBERT-style).
``angular`` drops the contiguous block of layers whose input and output hidden states have the
smallest angular distance on calibration text (Gromov et al., "The Unreasonable Ineffectiveness
of the Deeper Layers"): those layers change the representation least.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor


def _layers(model):
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise InputError(
            "unprunable_model",
            f"cannot prune {type(model).__name__}: no model.layers list "
            "of decoder layers (Llama, Qwen2, Mistral and similar are supported)",
        )
    return inner, layers


def uniform_layers(n_total: int, n_keep: int) -> list[int]:
    """Evenly spaced layer indices including the first and the last."""
    if n_keep == 1:
        return [0]
    return sorted({round(i * (n_total - 1) / (n_keep - 1)) for i in range(n_keep)})


def angular_layers(
    model, n_keep: int, calibration: Tensor, attention_mask: Tensor | None = None
) -> list[int]:
    """Keep all but the contiguous block of ``n_total - n_keep`` layers that changes hidden states
    least."""
    import torch

    _, layers = _layers(model)
    n_total, n_drop = len(layers), len(layers) - n_keep
    states: list[Tensor] = []

    def grab(_module, _args, output):
        states.append((output[0] if isinstance(output, tuple) else output).detach().float())

    hooks = [layer.register_forward_hook(grab) for layer in layers]
    try:
        with torch.inference_mode():
            out = model(
                input_ids=calibration, attention_mask=attention_mask, output_hidden_states=True
            )
    finally:
        for hook in hooks:
            hook.remove()
    hidden = [out.hidden_states[0].float(), *states]  # hidden[i] = input of layer i
    weights = (
        attention_mask if attention_mask is not None else torch.ones_like(calibration)
    ).float()
    best, best_dist = 0, math.inf
    for start in range(0, n_total - n_drop + 1):
        cos = torch.nn.functional.cosine_similarity(hidden[start], hidden[start + n_drop], dim=-1)
        dist = (torch.arccos(cos.clamp(-1, 1)) / math.pi * weights).sum() / weights.sum()
        if dist.item() < best_dist:
            best, best_dist = start, dist.item()
    return [i for i in range(n_total) if not best <= i < best + n_drop]


def prune_layers(
    model,
    n_keep: int | None = None,
    method: str = "uniform",
    *,
    layers: list[int] | None = None,
    calibration: Tensor | None = None,
    attention_mask: Tensor | None = None,
):
    """A copy of ``model`` keeping ``layers`` (or ``n_keep`` chosen by ``method``); returns (model,
    kept)."""
    _, all_layers = _layers(model)
    n_total = len(all_layers)
    if layers is None:
        if n_keep is None or not 1 <= n_keep <= n_total:
            raise InputError(
                "bad_n_layers", f"n_keep must be between 1 and {n_total}, got {n_keep}"
            )
        if method == "uniform":
            layers = uniform_layers(n_total, n_keep)
        elif method == "angular":
            if calibration is None:
                raise InputError("no_calibration", "angular pruning needs calibration text")
            layers = angular_layers(model, n_keep, calibration, attention_mask)
        else:
            raise InputError(
                "bad_prune_method", f"unknown prune method '{method}'; known: uniform, angular"
            )
    layers = sorted(layers)
    if len(set(layers)) != len(layers) or not layers or layers[0] < 0 or layers[-1] >= n_total:
        raise InputError(
            "bad_keep_layers",
            f"keep_layers must be distinct indices in 0..{n_total - 1}, got {layers}",
        )
    student = copy.deepcopy(model)
    inner, student_layers = _layers(student)
    kept = [student_layers[i] for i in layers]
    for new_index, layer in enumerate(kept):
        attn = getattr(layer, "self_attn", None)
        if attn is not None and hasattr(attn, "layer_idx"):
            attn.layer_idx = new_index
        if hasattr(layer, "layer_idx"):
            layer.layer_idx = new_index
    import torch

    inner.layers = torch.nn.ModuleList(kept)
    config = student.config
    config.num_hidden_layers = len(layers)
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and len(layer_types) == n_total:
        config.layer_types = [layer_types[i] for i in layers]
    return student, layers


def check_tokenizers(teacher_tok, student_tok, teacher_name: str, student_name: str) -> None:
    """Refuse a pair whose tokenizers map text to different ids; the message names both."""
    problems = []
    if teacher_tok.get_vocab() != student_tok.get_vocab():
        problems.append(f"vocabularies differ ({len(teacher_tok)} vs {len(student_tok)} tokens)")
    for attr in ("eos_token", "bos_token", "pad_token"):
        a, b = getattr(teacher_tok, attr, None), getattr(student_tok, attr, None)
        if attr != "pad_token" and a != b:
            problems.append(f"{attr} {a!r} vs {b!r}")
    if problems:
        raise InputError(
            "tokenizer_mismatch",
            f"teacher '{teacher_name}' and student '{student_name}' "
            f"use different tokenizers: {'; '.join(problems)}",
            hint=(
                "distillation on logits needs the same tokenizer; pick a student of the same family"
            ),
        )
