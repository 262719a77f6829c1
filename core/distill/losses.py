"""Knowledge-distillation losses: dense (teacher logits) and top-k (cached teacher log-probs).

Every loss takes ``(student_logits, teacher_logits, *, temperature=1.0, mask=None)`` with
logits shaped ``[batch, seq, vocab]`` and ``mask`` a ``[batch, seq]`` bool tensor of the
positions that count, and returns the mean per-token divergence over those positions
(``reduction="sum"`` gives the sum, ``"none"`` the ``[batch, seq]`` map).

    loss = forward_kl(student_logits, teacher_logits, mask=attention_mask.bool())

Temperature: ``p = softmax(logits / T)`` for both models. The losses do NOT multiply
by ``T**2`` (Hinton's gradient-scale correction); the trainer does.

- ``forward_kl``      KL(p_T || p_S)       mean-seeking, the classic KD loss.
- ``reverse_kl``      KL(p_S || p_T)       mode-seeking (MiniLLM).
- ``generalized_jsd`` with M = b p_T + (1 - b) p_S, ``JSD_b = b KL(p_T||M) + (1-b) KL(p_S||M)``,
  exactly TRL's ``generalized_jsd_loss`` (GKD, Agarwal et al.) at the same b, so GKD settings
  carry over; as in TRL, b = 0 is forward KL and b = 1 reverse KL exactly (the interior
  tends to 0 at both ends, so the endpoints are a jump, by TRL's definition).
- ``skew_kl``         KL(p_T || a p_T + (1 - a) p_S), a = 0.1 (DistiLLM).

Top-k variants (``topk_loss``) take the teacher's cached top-k ids, log-probs and the log of
the remaining ("tail") mass, and, from a cache built with ``tail_samples > 0``, the tail's
entropy and tokens sampled from the tail: then the loss is ``core.distill.tail.sampled_loss``
(exact top-k + sampled tail, within 0.5% of the dense forward KL at 260 bytes/token).
Without samples both distributions are folded onto k + 1 buckets (the k teacher tokens and
one tail bucket), which loses the divergence inside the tail (3-9% of forward KL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from core.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

Reduction = Literal["mean", "sum", "none"]
LOSS_NAMES = ("forward_kl", "reverse_kl", "generalized_jsd", "skew_kl")


# -- divergences between two log-prob tensors over the last dimension -------------------------


def _kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p || q) per position; zero-probability terms of p contribute nothing."""
    import torch

    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)


def _mix(log_p: Tensor, log_q: Tensor, weight_p: float) -> Tensor:
    """log(w p + (1 - w) q), computed stably."""
    import math

    import torch

    return torch.logaddexp(log_p + math.log(weight_p), log_q + math.log(1.0 - weight_p))


def forward_kl_logp(log_t: Tensor, log_s: Tensor, **_: float) -> Tensor:
    return _kl(log_t, log_s)


def reverse_kl_logp(log_t: Tensor, log_s: Tensor, **_: float) -> Tensor:
    return _kl(log_s, log_t)


def generalized_jsd_logp(log_t: Tensor, log_s: Tensor, *, beta: float = 0.5, **_: float) -> Tensor:
    if not 0.0 <= beta <= 1.0:
        raise InputError("bad_beta", f"generalized_jsd beta must be in [0, 1], got {beta}")
    if beta == 0.0:
        return _kl(log_t, log_s)
    if beta == 1.0:
        return _kl(log_s, log_t)
    log_m = _mix(log_t, log_s, beta)
    return beta * _kl(log_t, log_m) + (1.0 - beta) * _kl(log_s, log_m)


def skew_kl_logp(log_t: Tensor, log_s: Tensor, *, alpha: float = 0.1, **_: float) -> Tensor:
    if not 0.0 <= alpha < 1.0:
        raise InputError("bad_alpha", f"skew_kl alpha must be in [0, 1), got {alpha}")
    if alpha == 0.0:
        return _kl(log_t, log_s)
    return _kl(log_t, _mix(log_t, log_s, alpha))


DIVERGENCES: dict[str, Callable[..., Tensor]] = {
    "forward_kl": forward_kl_logp,
    "reverse_kl": reverse_kl_logp,
    "generalized_jsd": generalized_jsd_logp,
    "skew_kl": skew_kl_logp,
}


def divergence(name: str) -> Callable[..., Tensor]:
    """The divergence function for a loss name; unknown names list the known ones."""
    if name not in DIVERGENCES:
        raise InputError("unknown_loss", f"unknown loss '{name}'; known: {', '.join(LOSS_NAMES)}")
    return DIVERGENCES[name]


def reduce(per_token: Tensor, mask: Tensor | None, reduction: Reduction = "mean") -> Tensor:
    """Mean (or sum) of a ``[batch, seq]`` map over the positions where ``mask`` is true."""
    if reduction == "none":
        return per_token if mask is None else per_token * mask
    if mask is None:
        return per_token.sum() if reduction == "sum" else per_token.mean()
    total = (per_token * mask).sum()
    if reduction == "sum":
        return total
    return total / mask.sum().clamp(min=1)


# -- dense losses --------------------------------------------------------------------------


def _dense(
    name: str,
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float,
    mask: Tensor | None,
    reduction: Reduction,
    **kw: float,
) -> Tensor:
    import torch

    if temperature <= 0:
        raise InputError("bad_temperature", f"temperature must be > 0, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise InputError(
            "shape_mismatch",
            f"student logits {tuple(student_logits.shape)} and teacher "
            f"logits {tuple(teacher_logits.shape)} differ (tokenizers differ?)",
        )
    log_s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    log_t = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return reduce(divergence(name)(log_t, log_s, **kw), mask, reduction)


def forward_kl(student_logits, teacher_logits, *, temperature=1.0, mask=None, reduction="mean"):
    """KL(p_T || p_S) per token, averaged over ``mask``."""
    return _dense("forward_kl", student_logits, teacher_logits, temperature, mask, reduction)


def reverse_kl(student_logits, teacher_logits, *, temperature=1.0, mask=None, reduction="mean"):
    """KL(p_S || p_T) per token, averaged over ``mask``."""
    return _dense("reverse_kl", student_logits, teacher_logits, temperature, mask, reduction)


def generalized_jsd(
    student_logits, teacher_logits, *, beta=0.5, temperature=1.0, mask=None, reduction="mean"
):
    """TRL's generalized JSD at ``beta``; forward KL at beta = 0, reverse KL at beta = 1."""
    return _dense(
        "generalized_jsd", student_logits, teacher_logits, temperature, mask, reduction, beta=beta
    )


def skew_kl(
    student_logits, teacher_logits, *, alpha=0.1, temperature=1.0, mask=None, reduction="mean"
):
    """KL(p_T || alpha p_T + (1 - alpha) p_S) per token, averaged over ``mask``."""
    return _dense(
        "skew_kl", student_logits, teacher_logits, temperature, mask, reduction, alpha=alpha
    )


def dense_loss(
    name: str,
    student_logits,
    teacher_logits,
    *,
    temperature=1.0,
    mask=None,
    reduction: Reduction = "mean",
    beta=0.5,
    alpha=0.1,
):
    """Any dense loss by name."""
    kw = _shape_args(name, beta=beta, alpha=alpha)
    return _dense(name, student_logits, teacher_logits, temperature, mask, reduction, **kw)


def _shape_args(name: str, *, beta: float, alpha: float) -> dict[str, float]:
    """The one extra argument a divergence takes: JSD's ``beta`` or skew KL's ``alpha``."""
    if name == "generalized_jsd":
        return {"beta": beta}
    if name == "skew_kl":
        return {"alpha": alpha}
    return {}


# -- top-k losses --------------------------------------------------------------------------


def bucket_logprobs(
    topk_logprobs: Tensor, tail_logprob: Tensor, temperature: float = 1.0
) -> Tensor:
    """Teacher log-probs over k + 1 buckets (top-k tokens, then the tail), at ``temperature``."""
    import torch

    buckets = torch.cat([topk_logprobs.float(), tail_logprob.float().unsqueeze(-1)], dim=-1)
    # Renormalise: fp16 rounding in the cache leaves the buckets summing to 1 +- 1e-3.
    return torch.log_softmax(buckets / temperature, dim=-1)


def student_buckets(student_logits: Tensor, topk_ids: Tensor, temperature: float = 1.0) -> Tensor:
    """Student log-probs folded onto the teacher's k ids plus one tail bucket."""
    import torch

    log_s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    picked = log_s.gather(-1, topk_ids.long())
    # log(1 - sum p) computed as log1p(-exp(logsumexp)), clamped away from log(0).
    head = torch.logsumexp(picked, dim=-1).clamp(max=-1e-7)
    tail = torch.log(-torch.expm1(head))
    return torch.cat([picked, tail.unsqueeze(-1)], dim=-1)


def topk_loss(
    name: str,
    student_logits: Tensor,
    topk_ids: Tensor,
    topk_logprobs: Tensor,
    tail_logprob: Tensor,
    *,
    temperature: float = 1.0,
    mask: Tensor | None = None,
    reduction: Reduction = "mean",
    beta: float = 0.5,
    alpha: float = 0.1,
    entropy: Tensor | None = None,
    sample_ids: Tensor | None = None,
    sample_logprobs: Tensor | None = None,
) -> Tensor:
    """A loss against cached top-k teacher log-probs (ids/logprobs ``[b, s, k]``, tail ``[b,
    s]``); with the tail's ``entropy`` ``[b, s]`` and samples ``[b, s, m]``, the sampled-tail
    estimate of the full divergence."""
    if temperature <= 0:
        raise InputError("bad_temperature", f"temperature must be > 0, got {temperature}")
    fn = divergence(name)
    if sample_ids is not None and entropy is not None and sample_logprobs is not None:
        from core.distill.tail import TeacherRows, sampled_loss

        rows = TeacherRows(
            topk_ids, topk_logprobs, tail_logprob, entropy, sample_ids, sample_logprobs
        )
        per = sampled_loss(
            name, student_logits, rows, temperature=temperature, beta=beta, alpha=alpha
        )
        return reduce(per, mask, reduction)
    log_t = bucket_logprobs(topk_logprobs, tail_logprob, temperature)
    log_s = student_buckets(student_logits, topk_ids, temperature)
    kw = _shape_args(name, beta=beta, alpha=alpha)
    return reduce(fn(log_t, log_s, **kw), mask, reduction)


def topk_of(teacher_logits: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """(ids, log-probs, log tail mass) of the k most likely tokens per position (T = 1)."""
    import torch

    vocab = teacher_logits.shape[-1]
    if not 1 <= k < vocab:
        raise InputError(
            "bad_topk",
            f"top-k must be between 1 and {vocab - 1} (the vocabulary has {vocab} tokens), got {k}",
        )
    log_t = torch.log_softmax(teacher_logits.float(), dim=-1)
    values, ids = log_t.topk(k, dim=-1)
    head = torch.logsumexp(values, dim=-1).clamp(max=-1e-7)
    return ids, values, torch.log(-torch.expm1(head))
