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
        per = beta * _kl64(pt, m) + (1 - beta) * _kl64(ps, m)
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


def test_jsd_endpoints_are_exactly_forward_and_reverse_kl(logits):
    s, t, mask = logits
    fkl = losses.forward_kl(s, t, mask=mask).item()
    rkl = losses.reverse_kl(s, t, mask=mask).item()
    assert losses.generalized_jsd(s, t, beta=0.0, mask=mask).item() == fkl
    assert losses.generalized_jsd(s, t, beta=1.0, mask=mask).item() == rkl


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_generalized_jsd_equals_trl_in_float64(beta, temperature):
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd import GKDTrainer

    gen = torch.Generator().manual_seed(3)
    s = torch.randn(3, 7, 64, generator=gen, dtype=torch.float64) * 3
    t = torch.randn(3, 7, 64, generator=gen, dtype=torch.float64) * 3
    labels = torch.randint(0, 64, (3, 7), generator=gen)
    labels[0, 4:] = -100
    want = GKDTrainer.generalized_jsd_loss(s, t, labels=labels, beta=beta, temperature=temperature)
    log_s = torch.log_softmax(s / temperature, -1)
    log_t = torch.log_softmax(t / temperature, -1)
    got = losses.reduce(losses.generalized_jsd_logp(log_t, log_s, beta=beta), labels != -100)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want.item(), rel=1e-12)


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


def _lm_like_logits(seed: int, vocab: int = 8192, shape=(8, 64)):
    """Teacher logits with an LM-like long tail, and a student that disagrees with it."""
    gen = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, vocab + 1, dtype=torch.float32)
    zipf = -1.1 * torch.log(ranks)  # p ~ rank^-1.1
    perm = torch.stack([torch.randperm(vocab, generator=gen) for _ in range(shape[0] * shape[1])])
    teacher = zipf[perm].reshape(*shape, vocab) * 1.6 + torch.randn(*shape, vocab, generator=gen)
    student = teacher + 1.2 * torch.randn(*shape, vocab, generator=gen)
    return student, teacher


def _cached_rows(teacher, k, m, seed):
    from core.distill.tail import TeacherRows, teacher_rows

    rows = teacher_rows(teacher, k, m, generator=torch.Generator().manual_seed(seed))
    # The cache stores uint16 ids and float16 values.
    return TeacherRows(
        rows.ids,
        rows.logprobs.half(),
        rows.tail.half(),
        rows.entropy.half(),
        rows.sample_ids,
        rows.sample_logprobs.half(),
    )


@pytest.mark.parametrize(("name", "bound"), [("forward_kl", 0.005), ("skew_kl", 0.01)])
def test_sampled_tail_is_within_half_a_percent_of_dense(name, bound):
    from core.distill.tail import sampled_loss

    student, teacher = _lm_like_logits(4)
    dense = losses.dense_loss(name, student, teacher).item()
    k = m = 32
    bytes_per_token = 4 * k + 4 * m + 4  # uint16 ids + fp16 log-probs, tail, entropy
    assert bytes_per_token <= 300
    ids, lp, tail = losses.topk_of(teacher, k)
    bucket = losses.topk_loss(name, student, ids, lp.half(), tail.half()).item()
    assert bucket < dense * 0.97  # the old one-bucket tail loses > 3%
    for seed in range(3):
        got = sampled_loss(name, student, _cached_rows(teacher, k, m, seed)).mean().item()
        assert abs(got - dense) / dense <= bound, (seed, got, dense)


def test_sampled_tail_through_topk_loss():
    student, teacher = _lm_like_logits(5)
    rows = _cached_rows(teacher, 32, 32, 0)
    for temperature in (1.0,):
        dense = losses.forward_kl(student, teacher, temperature=temperature).item()
        got = losses.topk_loss(
            "forward_kl",
            student,
            rows.ids,
            rows.logprobs,
            rows.tail,
            entropy=rows.entropy,
            sample_ids=rows.sample_ids,
            sample_logprobs=rows.sample_logprobs,
            temperature=temperature,
        ).item()
        assert got == pytest.approx(dense, rel=0.005), temperature


def test_reverse_kl_and_jsd_see_student_mass_outside_the_teachers_top_k():
    """Mode-seeking losses must penalise a student that moves mass to tokens the teacher
    almost never says; folded into one tail bucket that penalty vanishes."""
    from core.distill.tail import sampled_loss

    student, teacher = _lm_like_logits(6)
    rows = _cached_rows(teacher, 32, 64, 0)
    ids, lp, tail = losses.topk_of(teacher, 32)
    # Spread student mass onto teacher-rare tokens, keeping its top-k mass the same.
    rare = teacher.argsort(-1)[..., : teacher.shape[-1] // 2]
    bad = student.clone()
    bad.scatter_(-1, rare, bad.gather(-1, rare) + 2.0)
    for name in ("reverse_kl", "generalized_jsd"):
        dense_good = losses.dense_loss(name, student, teacher).item()
        dense_bad = losses.dense_loss(name, bad, teacher).item()
        sampled_good = sampled_loss(name, student, rows).mean().item()
        sampled_bad = sampled_loss(name, bad, rows).mean().item()
        bucket_good = losses.topk_loss(name, student, ids, lp, tail).item()
        bucket_bad = losses.topk_loss(name, bad, ids, lp, tail).item()
        assert dense_bad > dense_good
        # The sampled estimate sees more of the extra penalty than the bucket does.
        assert sampled_bad - sampled_good > bucket_bad - bucket_good, name
        assert sampled_bad == pytest.approx(dense_bad, rel=0.35), name
