"""KD losses against a float64 reference written from the definitions, and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.distill import losses
from core.errors import InputError


def _softmax64(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)


def _kl64(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (p * (np.log(p) - np.log(q))).sum(-1)


def reference(
    name: str, s: np.ndarray, t: np.ndarray, mask: np.ndarray, temperature=1.0, beta=0.5, alpha=0.1
) -> float:
    ps, pt = _softmax64(s, temperature), _softmax64(t, temperature)
    if name == "forward_kl":
        per = _kl64(pt, ps)
    elif name == "reverse_kl":
        per = _kl64(ps, pt)
    elif name == "generalized_jsd":
        m = beta * pt + (1 - beta) * ps
        per = (beta * _kl64(pt, m) + (1 - beta) * _kl64(ps, m)) / (beta * (1 - beta))
    else:
        per = _kl64(pt, alpha * pt + (1 - alpha) * ps)
    return float((per * mask).sum() / mask.sum())


@pytest.fixture
def logits():
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(2, 5, 50, generator=gen) * 3
    teacher = torch.randn(2, 5, 50, generator=gen) * 3
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    return student, teacher, mask


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_dense_losses_match_float64_reference(logits, name, temperature):
    s, t, mask = logits
    got = losses.dense_loss(name, s, t, temperature=temperature, mask=mask, beta=0.3, alpha=0.1)
    want = reference(name, s.numpy(), t.numpy(), mask.numpy(), temperature, beta=0.3)
    assert got.item() == pytest.approx(want, rel=1e-4)


def test_named_functions_are_the_same_losses(logits):
    s, t, mask = logits
    assert losses.forward_kl(s, t, mask=mask).item() == pytest.approx(
        reference("forward_kl", s.numpy(), t.numpy(), mask.numpy()), rel=1e-4
    )
    assert losses.reverse_kl(s, t, mask=mask).item() == pytest.approx(
        reference("reverse_kl", s.numpy(), t.numpy(), mask.numpy()), rel=1e-4
    )
    assert losses.skew_kl(s, t, alpha=0.1, mask=mask).item() == pytest.approx(
        reference("skew_kl", s.numpy(), t.numpy(), mask.numpy()), rel=1e-4
    )
    assert losses.generalized_jsd(s, t, beta=0.5, mask=mask).item() == pytest.approx(
        reference("generalized_jsd", s.numpy(), t.numpy(), mask.numpy()), rel=1e-4
    )


def test_masked_positions_do_not_count(logits):
    s, t, mask = logits
    changed = s.clone()
    changed[0, 3:] = 100.0  # only masked-out positions change
    assert losses.forward_kl(changed, t, mask=mask).item() == pytest.approx(
        losses.forward_kl(s, t, mask=mask).item()
    )
    whole = losses.forward_kl(s, t).item()
    assert whole == pytest.approx(
        reference("forward_kl", s.numpy(), t.numpy(), np.ones((2, 5))), rel=1e-4
    )


def test_jsd_endpoints_are_the_kl_limits_without_a_jump(logits):
    s, t, mask = logits
    fkl = losses.forward_kl(s, t, mask=mask).item()
    rkl = losses.reverse_kl(s, t, mask=mask).item()
    assert losses.generalized_jsd(s, t, beta=0.0, mask=mask).item() == pytest.approx(fkl, rel=1e-6)
    assert losses.generalized_jsd(s, t, beta=1.0, mask=mask).item() == pytest.approx(rkl, rel=1e-6)
    # Just inside the interval the value is already close to the endpoint: no discontinuity.
    assert losses.generalized_jsd(s, t, beta=1e-5, mask=mask).item() == pytest.approx(fkl, rel=0.01)
    assert losses.generalized_jsd(s, t, beta=1 - 1e-5, mask=mask).item() == pytest.approx(
        rkl, rel=0.01
    )


def test_identical_distributions_give_zero(logits):
    s, _, mask = logits
    for name in losses.LOSS_NAMES:
        assert losses.dense_loss(name, s, s.clone(), mask=mask).item() == pytest.approx(
            0.0, abs=1e-5
        )


def test_losses_have_gradients_towards_the_teacher(logits):
    s, t, mask = logits
    s = s.clone().requires_grad_(True)
    loss = losses.forward_kl(s, t, mask=mask)
    loss.backward()
    stepped = (s - 1.0 * s.grad).detach()
    assert losses.forward_kl(stepped, t, mask=mask).item() < loss.item()


def test_topk_loss_is_close_to_dense_when_k_covers_the_mass():
    gen = torch.Generator().manual_seed(1)
    teacher = torch.randn(2, 6, 400, generator=gen) * 6  # peaked: top-64 covers most mass
    student = teacher + torch.randn(2, 6, 400, generator=gen)
    ids, logprobs, tail = losses.topk_of(teacher, 64)
    dense = losses.forward_kl(student, teacher).item()
    cached = losses.topk_loss("forward_kl", student, ids, logprobs.half(), tail.half()).item()
    assert cached == pytest.approx(dense, rel=0.05)
    assert (
        cached <= dense * 1.01
    )  # folding onto buckets can only lose divergence (up to fp16 rounding)


def test_topk_with_all_tokens_equals_dense():
    gen = torch.Generator().manual_seed(2)
    teacher, student = torch.randn(1, 3, 20, generator=gen), torch.randn(1, 3, 20, generator=gen)
    ids, logprobs, tail = losses.topk_of(teacher, 19)
    for name in losses.LOSS_NAMES:
        dense = losses.dense_loss(name, student, teacher).item()
        cached = losses.topk_loss(name, student, ids, logprobs, tail).item()
        assert cached == pytest.approx(dense, rel=2e-2, abs=1e-4), name


def test_bad_names_and_values_are_clear_errors(logits):
    s, t, _ = logits
    with pytest.raises(InputError, match="unknown loss 'kl2'.*forward_kl"):
        losses.dense_loss("kl2", s, t)
    with pytest.raises(InputError, match="between 1 and 49"):
        losses.topk_of(t, 50)
    with pytest.raises(InputError, match="temperature"):
        losses.forward_kl(s, t, temperature=0)
    with pytest.raises(InputError, match="differ"):
        losses.forward_kl(s[..., :40], t)
