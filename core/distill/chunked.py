"""A KD loss over chunks of positions that never holds full-vocabulary logits for the whole batch.

    kd_sum, ce_sum = chunked_kd(hidden, head, mask, targets, kd_fn, teacher=(ids, lps, tail),
                                chunk=1024)

The student's forward returns its last hidden state (``[b, s, d]``, 896 wide for Qwen2.5-0.5B)
instead of logits (``[b, s, V]``, 151,936 wide). Only the target positions are kept, and they are
projected through the output head ``chunk`` positions at a time; each chunk's logits, fp32
log-softmax and loss are recomputed in the backward pass (``torch.utils.checkpoint``), so peak
memory holds one chunk's ``[chunk, V]`` fp32 logits, not the batch's. At 16 x 511 positions and
V = 151,936 the full fp32 logits are 5.0 GB per copy (and log-softmax makes more copies); a chunk
of 1,024 positions is 0.62 GB. The sums are the same as the unchunked loss's, to rounding.

``guard_vocab`` handles teachers whose (padded) vocabulary is larger than the student's
(Qwen2.5-7B: 152,064 rows, 0.5B: 151,936): top-k ids the student has no row for point at one
extra student column of ``-1e4`` and their teacher mass moves into the tail bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NEG = -1e4  # log-prob of "no such token": finite, so 0 * (NEG - NEG) stays 0, not nan


def guard_vocab(topk_ids, topk_logprobs, tail, student_vocab: int):
    """(ids, log-probs, tail, padded) with ids >= ``student_vocab`` moved to the pad column."""
    import torch

    invalid = topk_ids >= student_vocab
    if not bool(invalid.any()):
        return topk_ids, topk_logprobs, tail, False
    moved = torch.where(invalid, topk_logprobs.float(), torch.full_like(topk_logprobs.float(), NEG))
    tail = torch.logaddexp(tail.float(), torch.logsumexp(moved, dim=-1))
    ids = torch.where(invalid, torch.full_like(topk_ids, student_vocab), topk_ids)
    logprobs = torch.where(invalid, torch.full_like(topk_logprobs.float(), NEG), topk_logprobs)
    return ids, logprobs, tail, True


def pad_column(logits):
    """Student logits with one extra column of ``NEG`` (the guard's "no such token")."""
    import torch

    return torch.cat([logits, logits.new_full((*logits.shape[:-1], 1), NEG)], dim=-1)


def chunked_kd(
    hidden,
    head: Callable[[Any], Any],
    mask,
    targets,
    kd_fn: Callable[..., Any],
    *,
    teacher: tuple,
    chunk: int,
    ce: bool,
) -> tuple[Any, Any]:
    """(sum of KD over target positions, sum of CE or 0), ``chunk`` positions at a time.

    ``hidden`` ``[b, s, d]`` and ``mask``/``targets`` ``[b, s]`` are already shifted (position
    ``j`` predicts token ``j + 1``); ``teacher`` holds tensors shaped ``[b, s, ...]`` that
    ``kd_fn(logits [n, V], *teacher_rows) -> per-row KD [n]`` reads."""
    import torch
    from torch.utils.checkpoint import checkpoint

    rows = mask.reshape(-1).nonzero().squeeze(-1)
    flat_h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)
    flat_t = targets.reshape(-1).index_select(0, rows)
    flat_teacher = [
        t.reshape(-1, *t.shape[2:]).index_select(0, rows.to(t.device)).to(hidden.device)
        for t in teacher
    ]

    def piece(h, y, *t):
        logits = head(h).float()
        kd = kd_fn(logits, *t).sum()
        xe = (
            torch.nn.functional.cross_entropy(logits, y, reduction="sum")
            if ce
            else logits.new_zeros(())
        )
        return kd, xe

    if chunk <= 0:  # one piece, no recomputation
        return piece(flat_h, flat_t, *flat_teacher)
    kd_sum = hidden.new_zeros((), dtype=torch.float32)
    ce_sum = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        args = (flat_h[part], flat_t[part], *(t[part] for t in flat_teacher))
        kd, xe = checkpoint(piece, *args, use_reentrant=False)
        kd_sum, ce_sum = kd_sum + kd, ce_sum + xe
    return kd_sum, ce_sum
