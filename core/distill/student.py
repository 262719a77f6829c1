"""Students: the teacher pruned in depth and width, or a given smaller model with the same
tokenizer.

    student, kept = prune_student(teacher, tokenizer, PruneConfig(layers=20, mlp_keep=0.75),
                                  calibration_texts)      # a new model; teacher untouched
    student, kept = prune_layers(teacher, n_keep=8, method="uniform")   # depth only
    check_tokenizers(teacher_tok, student_tok, "smollm2-135m-instruct", "my-student")

Depth (which layers stay):
``uniform`` keeps evenly spaced layers, always the first and the last (DistilBERT-style).
``angular`` drops the contiguous block of layers whose input and output hidden states have the
smallest angular distance on calibration text (Gromov et al., "The Unreasonable Ineffectiveness
of the Deeper Layers"): those layers change the representation least.
``block_influence`` drops the layers with the lowest block influence, 1 - cos(input, output)
of each layer on calibration text (ShortGPT; the depth score of Minitron), not necessarily
contiguous.
``greedy_kl`` drops one layer at a time, each time the one whose removal raises the KL
divergence of the output distribution on calibration text least (slow: about
layers^2 / 2 forward passes of the calibration batch).

Width (``core.distill.width``): MLP neurons, attention heads (GQA-aware) and hidden channels
ranked by activation importance on the same calibration text, Minitron-style. The student is
a plain config of the teacher's architecture with the smaller sizes.
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


def block_influence_layers(states: list[Tensor], weights: Tensor, n_keep: int) -> list[int]:
    """Keep the ``n_keep`` layers with the highest 1 - cos(input, output) (``states[i]`` enters
    layer i)."""
    import torch

    n_total = len(states) - 1
    w = weights.float()
    scores = []
    for i in range(n_total):
        cos = torch.nn.functional.cosine_similarity(states[i], states[i + 1], dim=-1)
        scores.append(float(((1 - cos) * w).sum() / w.sum()))
    keep = sorted(range(n_total), key=lambda i: -scores[i])[:n_keep]
    return sorted(keep)


def greedy_kl_layers(model, n_keep: int, ids: Tensor, mask: Tensor) -> list[int]:
    """Drop layers one at a time, each time the one whose removal raises KL(model || pruned) on
    the calibration batch least (Shortened-LLaMA-style, by the output distribution rather
    than hidden-state angles); keep the first layer. bf16 autocast forwards on a copy, so
    ``model`` is never touched."""
    import torch

    work = copy.deepcopy(model)
    inner, layers = _layers(work)
    valid = mask.bool()

    def log_probs(keep: list[int]) -> Tensor:
        inner.layers = torch.nn.ModuleList([layers[i] for i in keep])
        work.config.num_hidden_layers = len(keep)
        device = ids.device.type
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
            logits = work(input_ids=ids, attention_mask=mask, use_cache=False).logits
        return torch.log_softmax(logits.float(), -1)[valid]

    reference = log_probs(list(range(len(layers))))
    weights = reference.exp()

    def kl(keep: list[int]) -> float:
        return float((weights * (reference - log_probs(keep))).sum(-1).mean())

    keep = list(range(len(layers)))
    while len(keep) > n_keep:
        _, drop = min((kl([j for j in keep if j != i]), i) for i in keep[1:])
        keep.remove(drop)
    return keep


def angular_from_states(states: list[Tensor], weights: Tensor, n_keep: int) -> list[int]:
    """``angular_layers`` from hidden states already captured (``states[i]`` enters layer i)."""
    import torch

    n_total = len(states) - 1
    n_drop = n_total - n_keep
    w = weights.float()
    best, best_dist = 0, math.inf
    for start in range(0, n_total - n_drop + 1):
        cos = torch.nn.functional.cosine_similarity(states[start], states[start + n_drop], dim=-1)
        dist = float((torch.arccos(cos.clamp(-1, 1)) / math.pi * w).sum() / w.sum())
        if dist < best_dist:
            best, best_dist = start, dist
    return [i for i in range(n_total) if not best <= i < best + n_drop]


def prune_problems(prune, config) -> list[str]:
    """Every way a ``PruneConfig`` does not fit a teacher config, as one-line problems."""
    from core.distill.width import valid_heads_keep

    problems = []
    n_total = config.num_hidden_layers
    if prune.layers is not None and prune.layers > n_total:
        problems.append(f"prune.layers: {prune.layers} is more than the teacher's {n_total} layers")
    if prune.keep_layers is not None and max(prune.keep_layers) >= n_total:
        problems.append(f"prune.keep_layers: indices must be in 0..{n_total - 1}")
    n_q = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_q
    if prune.heads_keep is not None:
        valid = valid_heads_keep(n_q, n_kv)
        if prune.heads_keep > n_q:
            problems.append(
                f"prune.heads_keep: {prune.heads_keep} is more than the teacher's {n_q} heads"
            )
        elif prune.heads_keep not in valid:
            problems.append(
                f"prune.heads_keep: {prune.heads_keep} does not fit {n_q} query heads in {n_kv} "
                f"KV groups; one of {', '.join(map(str, valid))}"
            )
    return problems


def check_prune(prune, config) -> None:
    """Raise one ``InputError`` naming every problem of ``prune`` against the teacher config."""
    problems = prune_problems(prune, config)
    if problems:
        raise InputError(
            "bad_prune",
            f"{len(problems)} problem(s) in the prune settings: " + "; ".join(problems),
            hint="see docs/distill.md, 'Students'",
        )


def prune_student(model, tokenizer, prune, texts: list[str]):
    """Prune ``model`` in depth and width as ``prune`` says; returns (student, kept layers)."""
    from core.distill.width import activation_scores, apply_plan, width_plan

    check_prune(prune, model.config)
    n_total = model.config.num_hidden_layers
    narrow = prune.mlp_keep < 1 or prune.hidden_keep < 1 or prune.heads_keep is not None
    needs_scores = narrow or (prune.keep_layers is None and prune.method != "uniform")
    if not needs_scores:
        n_keep = prune.layers or n_total
        return prune_layers(model, n_keep, "uniform", layers=prune.keep_layers)
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
    device = next(model.parameters()).device
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    scores = activation_scores(model, ids, mask)
    n_keep = prune.layers or n_total
    if prune.keep_layers is not None:
        layers = sorted(prune.keep_layers)
    elif prune.method == "uniform":
        layers = uniform_layers(n_total, n_keep)
    elif prune.method == "angular":
        layers = angular_from_states(scores.states, mask, n_keep)
    elif prune.method == "greedy_kl":
        layers = greedy_kl_layers(model, n_keep, ids, mask)
    else:
        layers = block_influence_layers(scores.states, mask, n_keep)
    if not narrow:
        return prune_layers(model, layers=layers)
    plan = width_plan(
        model.config,
        scores,
        layers,
        mlp_keep=prune.mlp_keep,
        heads_keep=prune.heads_keep,
        hidden_keep=prune.hidden_keep,
    )
    return apply_plan(model, plan), layers


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
