"""Minitron-style structured pruning: importance from activations, then a smaller plain model.

    scores = activation_scores(teacher, calibration_ids, attention_mask)   # one forward pass
    plan = width_plan(teacher.config, scores, layers=[0, 1, 5, ...], mlp_keep=0.75,
                      heads_keep=6, hidden_keep=1.0)
    student = apply_plan(teacher, plan)      # a new model; the teacher is untouched

Importance (Muralidharan et al., "Compact Language Models via Pruning and Knowledge
Distillation", 2024) is measured on calibration text, per decoder layer:

- MLP neuron j: mean |a_j| of the down-projection's input ``act(gate(x)) * up(x)``;
- attention head h: mean L2 norm of the head's output (the o-projection's input slice);
- hidden channel c: mean |x_c| of every RMSNorm output (both norms of every layer, final norm).

Attention is pruned GQA-aware: with ``g`` query heads per key/value head, ``heads_keep`` query
heads are either the best ``heads_keep / n_kv`` heads inside every KV group (all KV heads
kept) or, when that does not divide, the best ``heads_keep / g`` whole groups (their KV heads
with them). ``head_dim`` never changes. The result is built from a plain config with smaller
``num_hidden_layers``, ``intermediate_size``, ``num_attention_heads``, ``num_key_value_heads``
and ``hidden_size``: transformers, vLLM and GGUF converters load it like any Llama/Qwen2.
Dropping MLP neurons or heads is exact: the student equals the teacher with those activations
zeroed. Dropping hidden channels is not (RMSNorm then averages over fewer channels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor


@dataclass
class ActivationScores:
    """Per-layer importance: ``mlp[i]`` ``[I]``, ``heads[i]`` ``[n_q]``; ``hidden`` ``[H]``; and
    ``states[i]``, the hidden state entering layer i (``states[n]``: the last layer's output)."""

    mlp: list[Tensor]
    heads: list[Tensor]
    hidden: Tensor
    states: list[Tensor] = field(default_factory=list)


@dataclass
class WidthPlan:
    """What the student keeps: teacher layer indices and, per kept layer, neuron and head ids."""

    layers: list[int]
    mlp: list[list[int]]
    q_heads: list[list[int]]
    kv_heads: list[list[int]]
    hidden: list[int]


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def activation_scores(model, ids: Tensor, mask: Tensor) -> ActivationScores:
    """One forward pass over calibration text with hooks that sum activation magnitudes."""
    import torch

    layers = model.model.layers
    n_q, hd = model.config.num_attention_heads, head_dim(model.config)
    weights = mask.float()[..., None]
    tokens = weights.sum()
    mlp = [torch.zeros(0)] * len(layers)
    heads = [torch.zeros(0)] * len(layers)
    hidden = torch.zeros(model.config.hidden_size)
    states: list[Tensor] = []

    def on_down(index):
        def hook(_module, args):
            mlp[index] = (args[0].float().abs() * weights).sum((0, 1)) / tokens

        return hook

    def on_o(index):
        def hook(_module, args):
            x = args[0].float().reshape(*args[0].shape[:2], n_q, hd).norm(dim=-1)
            heads[index] = (x * weights).sum((0, 1)) / tokens

        return hook

    def on_norm(_module, _args, output):
        nonlocal hidden
        hidden = hidden + (output.float().abs() * weights).sum((0, 1)) / tokens

    def on_layer(_module, args, kwargs):
        states.append((args[0] if args else kwargs["hidden_states"]).detach().float())

    def on_final(_module, args):
        states.append(args[0].detach().float())  # the last layer's output

    hooks = []
    for index, layer in enumerate(layers):
        hooks.append(layer.mlp.down_proj.register_forward_pre_hook(on_down(index)))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(on_o(index)))
        hooks.append(layer.input_layernorm.register_forward_hook(on_norm))
        hooks.append(layer.post_attention_layernorm.register_forward_hook(on_norm))
        hooks.append(layer.register_forward_pre_hook(on_layer, with_kwargs=True))
    hooks.append(model.model.norm.register_forward_hook(on_norm))
    hooks.append(model.model.norm.register_forward_pre_hook(on_final))
    try:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)
    finally:
        for hook in hooks:
            hook.remove()
    return ActivationScores(mlp, heads, hidden, states)


def head_choice(
    scores: Tensor, n_q: int, n_kv: int, heads_keep: int
) -> tuple[list[int], list[int]]:
    """Kept query heads and KV heads of one layer (GQA-aware; see the module docstring)."""
    group = n_q // n_kv
    per_group = scores.reshape(n_kv, group)
    if heads_keep % n_kv == 0:
        keep = heads_keep // n_kv
        q: list[int] = []
        for g in range(n_kv):
            best = per_group[g].argsort(descending=True)[:keep].sort().values
            q.extend(int(g * group + i) for i in best)
        return q, list(range(n_kv))
    groups = sorted(per_group.sum(-1).argsort(descending=True)[: heads_keep // group].tolist())
    return [g * group + i for g in groups for i in range(group)], groups


def valid_heads_keep(n_q: int, n_kv: int) -> list[int]:
    group = n_q // n_kv
    return sorted({n_kv * i for i in range(1, group + 1)} | {group * i for i in range(1, n_kv + 1)})


def width_plan(
    config,
    scores: ActivationScores,
    layers: list[int],
    *,
    mlp_keep: float = 1.0,
    heads_keep: int | None = None,
    hidden_keep: float = 1.0,
) -> WidthPlan:
    """Pick what to keep from activation scores (the most important, in their original order)."""
    n_q, n_kv = config.num_attention_heads, config.num_key_value_heads
    n_mlp = max(1, round(mlp_keep * config.intermediate_size))
    n_hidden = max(1, round(hidden_keep * config.hidden_size))
    mlp, q_heads, kv_heads = [], [], []
    for index in layers:
        mlp.append(sorted(scores.mlp[index].argsort(descending=True)[:n_mlp].tolist()))
        q, kv = head_choice(scores.heads[index], n_q, n_kv, heads_keep or n_q)
        q_heads.append(q)
        kv_heads.append(kv)
    hidden = sorted(scores.hidden.argsort(descending=True)[:n_hidden].tolist())
    return WidthPlan(layers, mlp, q_heads, kv_heads, hidden)


def _rows(weight: Tensor, ids: list[int], size: int) -> Tensor:
    """Rows of a weight grouped in blocks of ``size`` (heads), keeping blocks ``ids``."""
    import torch

    index = torch.tensor([i * size + j for i in ids for j in range(size)])
    return weight.index_select(0, index)


def apply_plan(model, plan: WidthPlan):
    """A new model of the same class with only what ``plan`` keeps (weights copied)."""
    import copy

    import torch

    config = copy.deepcopy(model.config)
    hd = head_dim(config)
    n_layers = len(plan.layers)
    config.num_hidden_layers = n_layers
    config.intermediate_size = len(plan.mlp[0])
    config.num_attention_heads = len(plan.q_heads[0])
    config.num_key_value_heads = len(plan.kv_heads[0])
    config.head_dim = hd
    config.hidden_size = len(plan.hidden)
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and len(layer_types) == len(model.model.layers):
        config.layer_types = [layer_types[i] for i in plan.layers]
    hidden = torch.tensor(plan.hidden)
    source = model.state_dict()
    state: dict[str, Any] = {}
    for name, tensor in source.items():
        state[name] = tensor
    state = {k: v for k, v in state.items() if ".layers." not in k}
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        if key in state:
            state[key] = state[key].index_select(1, hidden)
    state["model.norm.weight"] = state["model.norm.weight"].index_select(0, hidden)
    for new, old in enumerate(plan.layers):
        prefix, to = f"model.layers.{old}.", f"model.layers.{new}."
        q, kv, mlp = plan.q_heads[new], plan.kv_heads[new], torch.tensor(plan.mlp[new])
        for name, tensor in source.items():
            if not name.startswith(prefix):
                continue
            short = name[len(prefix) :]
            if short.startswith("self_attn.q_proj."):
                tensor = _rows(tensor, q, hd)
            elif short.startswith(("self_attn.k_proj.", "self_attn.v_proj.")):
                tensor = _rows(tensor, kv, hd)
            elif short == "self_attn.o_proj.weight":
                tensor = _rows(tensor.t(), q, hd).t()
            elif short.startswith(("mlp.gate_proj.", "mlp.up_proj.")):
                tensor = tensor.index_select(0, mlp)
            elif short == "mlp.down_proj.weight":
                tensor = tensor.index_select(1, mlp)
            tensor = _hidden_slice(short, tensor, hidden)
            state[to + short] = tensor.contiguous()
    from core.models import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:  # model construction shares transformers' process-wide init patches
        student = type(model)(config)
    student.to(next(model.parameters()).dtype)
    missing, unexpected = student.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if "rotary" not in k]
    if unexpected or [k for k in missing if "rotary" not in k and k != "lm_head.weight"]:
        raise RuntimeError(f"pruned state does not fit: missing {missing}, extra {unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        student.tie_weights()
    return student


def _hidden_slice(short: str, tensor: Tensor, hidden: Tensor) -> Tensor:
    """Cut a layer tensor to the kept hidden channels (inputs of projections, outputs of o/down)."""
    if short.endswith("layernorm.weight"):
        return tensor.index_select(0, hidden)
    if short.endswith(".weight") and tensor.dim() == 2:
        if short.startswith(("self_attn.o_proj", "mlp.down_proj")):
            return tensor.index_select(0, hidden)
        return tensor.index_select(1, hidden)
    if short.startswith(("self_attn.o_proj", "mlp.down_proj")) and short.endswith(".bias"):
        return tensor.index_select(0, hidden)
    return tensor
