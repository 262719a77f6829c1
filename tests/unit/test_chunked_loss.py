"""The chunked KD loss (core/distill/chunked.py) equals the unchunked one in value and gradients
(float64 tiny model; the losses themselves compute in float32), through
DistillTrainer.compute_loss too; and top-k ids beyond the
student's vocabulary (a padded teacher embedding) are guarded instead of crashing the gather.
"""

from __future__ import annotations

import pytest
import torch

from core.distill import losses
from core.distill.chunked import chunked_kd, guard_vocab, pad_column


@pytest.fixture(scope="module")
def pair(tiny_model_dir, tiny_teacher_dir):
    from core.models import load_causal_lm, resolve_model

    student, tokenizer = load_causal_lm(resolve_model(str(tiny_model_dir)))
    teacher, _ = load_causal_lm(resolve_model(str(tiny_teacher_dir)))
    return student.double(), teacher.double(), tokenizer


def batch(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 21), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0  # a shorter row (right padding)
    labels = ids.masked_fill(mask == 0, -100)
    labels[2, :5] = -100  # a prompt that is not trained on
    return ids, mask, labels


@pytest.mark.parametrize("name", ["forward_kl", "reverse_kl", "generalized_jsd"])
def test_chunked_equals_unchunked_loss_and_gradients(pair, name):
    student, teacher, _ = pair
    ids, mask, labels = batch(student.config.vocab_size)
    with torch.no_grad():
        top_ids, top_lp, tail = losses.topk_of(teacher(input_ids=ids).logits[:, :-1], 16)
    targets = labels[:, 1:]
    keep = targets != -100

    student.zero_grad()
    logits = student(input_ids=ids, attention_mask=mask).logits[:, :-1]
    kd = losses.topk_loss(name, logits, top_ids, top_lp, tail, mask=keep, reduction="sum")
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    (kd + ce).backward()
    expected = {n: p.grad.clone() for n, p in student.named_parameters()}

    student.zero_grad()
    out = student(
        input_ids=ids,
        attention_mask=mask,
        output_hidden_states=True,
        logits_to_keep=torch.empty(0, dtype=torch.long),
    )
    assert out.logits.shape[1] == 0  # no full logits were made

    def rows(lg, i, lp, t):
        return losses.topk_loss(name, lg, i, lp, t, reduction="sum")

    kd_c, ce_c = chunked_kd(
        out.hidden_states[-1][:, :-1],
        student.get_output_embeddings(),
        keep,
        targets.clamp(min=0),
        rows,
        teacher=(top_ids, top_lp, tail),
        chunk=7,
        ce=True,
    )
    (kd_c + ce_c).backward()
    # The model runs in float64; core.distill.losses computes in float32 (``.float()``), so the
    # two orders of summation agree to float32 rounding.
    assert kd_c.item() == pytest.approx(kd.item(), rel=1e-5)
    assert ce_c.item() == pytest.approx(ce.item(), rel=1e-6)
    for n, p in student.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], rtol=1e-4, atol=1e-6)


def test_the_trainer_gives_the_same_loss_with_and_without_chunks(pair, tmp_path):
    from transformers import TrainingArguments

    from core.distill.cache import collate
    from core.distill.trainer import DistillTrainer, KDSettings

    student, teacher, _ = pair
    ids, mask, labels = batch(student.config.vocab_size, seed=1)
    with torch.no_grad():
        top_ids, top_lp, tail = losses.topk_of(teacher(input_ids=ids).logits, 8)
    items = [
        {
            "input_ids": ids[r][mask[r] == 1].tolist(),
            "labels": labels[r][mask[r] == 1].tolist(),
            "topk": tuple(x[r][mask[r] == 1].numpy() for x in (top_ids, top_lp, tail)),
        }
        for r in range(len(ids))
    ]
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    found = []
    for chunk in (0, 5):
        trainer = DistillTrainer(
            model=student, args=args, kd=KDSettings(ce_weight=0.5, chunk=chunk)
        )
        inputs = collate(items)
        inputs["topk_logprobs"] = inputs["topk_logprobs"].double()
        inputs["topk_tail"] = inputs["topk_tail"].double()
        found.append(trainer.compute_loss(student, inputs).item())
    assert found[1] == pytest.approx(found[0], rel=1e-5)


def test_teacher_ids_beyond_the_student_vocabulary_go_to_the_tail():
    g = torch.Generator().manual_seed(3)
    vocab = 10
    student_logits = torch.randn(2, 4, vocab, generator=g, dtype=torch.float64, requires_grad=True)
    teacher_logits = torch.randn(2, 4, vocab + 2, dtype=torch.float64, generator=g)
    teacher_logits[..., vocab:] += 3.0  # the padded rows are likely: they land in the top-k
    ids, lp, tail = losses.topk_of(teacher_logits, 5)
    assert (ids >= vocab).any()
    with pytest.raises((IndexError, RuntimeError)):
        losses.topk_loss("forward_kl", student_logits, ids, lp, tail)  # what used to happen

    g_ids, g_lp, g_tail, padded = guard_vocab(ids, lp, tail, vocab)
    assert padded and (g_ids <= vocab).all()
    loss = losses.topk_loss("forward_kl", pad_column(student_logits), g_ids, g_lp, g_tail)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student_logits.grad).all()
    # the teacher's mass is kept: top-k plus tail still sums to one
    mass = g_lp.exp().sum(-1) + g_tail.exp()
    torch.testing.assert_close(mass, torch.ones_like(mass), atol=1e-6, rtol=0)


def test_the_guard_changes_nothing_when_the_vocabularies_agree():
    ids = torch.tensor([[[1, 2, 3]]])
    lp = torch.log(torch.tensor([[[0.5, 0.2, 0.1]]]))
    tail = torch.log(torch.tensor([[0.2]]))
    out = guard_vocab(ids, lp, tail, 10)
    assert out[3] is False and out[0] is ids and out[1] is lp and out[2] is tail
