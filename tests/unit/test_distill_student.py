"""Pruned students run, keep the right layers, leave the teacher alone; tokenizer mismatches are
refused."""

from __future__ import annotations

import pytest
import torch

from core.distill.student import check_tokenizers, prune_layers, uniform_layers
from core.errors import InputError


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    from core.models import load_causal_lm, resolve_model

    return load_causal_lm(resolve_model(str(tiny_teacher_dir)))


def test_uniform_keeps_first_and_last():
    assert uniform_layers(30, 8) == [0, 4, 8, 12, 17, 21, 25, 29]
    assert uniform_layers(4, 2) == [0, 3]


def test_pruned_student_keeps_the_chosen_teacher_layers(teacher):
    model, tokenizer = teacher
    student, kept = prune_layers(model, 2, "uniform")
    assert kept == [0, 3] and student.config.num_hidden_layers == 2
    assert len(model.model.layers) == 4  # the teacher is untouched
    assert torch.equal(
        student.model.layers[1].mlp.up_proj.weight, model.model.layers[3].mlp.up_proj.weight
    )
    assert (
        student.model.layers[1].mlp.up_proj.weight.data_ptr()
        != model.model.layers[3].mlp.up_proj.weight.data_ptr()
    )


def test_pruned_student_generates_with_the_kv_cache(teacher):
    model, tokenizer = teacher
    student, _ = prune_layers(model, layers=[1, 2])
    ids = tokenizer("Hello there", return_tensors="pt")
    out = student.generate(
        **ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert out.shape[1] == ids["input_ids"].shape[1] + 5
    # Incremental decoding with the cache gives the same logits as one full forward pass.
    full = student(input_ids=out).logits[0, -1]
    past = student(input_ids=out[:, :-1], use_cache=True).past_key_values
    step = student(input_ids=out[:, -1:], cache=past).logits[0, -1]
    assert torch.allclose(full, step, atol=1e-4)


def test_angular_drops_a_contiguous_block(teacher):
    model, tokenizer = teacher
    enc = tokenizer(["The quick brown fox jumps over the lazy dog."], return_tensors="pt")
    student, kept = prune_layers(
        model, 2, "angular", calibration=enc["input_ids"], attention_mask=enc["attention_mask"]
    )
    dropped = sorted(set(range(4)) - set(kept))
    assert len(kept) == 2 and dropped == list(range(dropped[0], dropped[0] + 2))


def test_bad_layer_choices_are_refused(teacher):
    model, _ = teacher
    with pytest.raises(InputError, match="between 1 and 4"):
        prune_layers(model, 9)
    with pytest.raises(InputError, match="keep_layers"):
        prune_layers(model, layers=[0, 7])
    with pytest.raises(InputError, match="unknown prune method"):
        prune_layers(model, 2, "random")


def test_mismatched_tokenizers_are_refused_naming_both(tiny_tokenizer):
    from core.tiny import make_tokenizer

    other = make_tokenizer(vocab_size=300)
    check_tokenizers(tiny_tokenizer, tiny_tokenizer, "a", "b")
    with pytest.raises(
        InputError, match="teacher 'big-one' and student 'small-one' use different tokenizers"
    ):
        check_tokenizers(tiny_tokenizer, other, "big-one", "small-one")
