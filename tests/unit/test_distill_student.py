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


# -- width pruning (Minitron-style) -------------------------------------------------------


@pytest.fixture(scope="module")
def gqa_teacher(tiny_tokenizer):
    """A 3-layer Llama with 6 query heads in 2 KV groups (GQA), random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=6,
        num_key_value_heads=2,
        head_dim=8,
        tie_word_embeddings=True,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tiny_tokenizer


CALIB = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."]


def _masked_forward(model, plan, ids):
    """The teacher on the kept layers with every dropped neuron and head zeroed."""
    from core.distill.width import head_dim

    hd = head_dim(model.config)
    depth, _ = prune_layers(model, layers=plan.layers)
    hooks = []
    for layer, neurons, heads in zip(depth.model.layers, plan.mlp, plan.q_heads, strict=True):
        keep_n = torch.zeros(model.config.intermediate_size)
        keep_n[neurons] = 1
        keep_h = torch.zeros(model.config.num_attention_heads).repeat_interleave(hd)
        for h in heads:
            keep_h[h * hd : (h + 1) * hd] = 1
        hooks.append(
            layer.mlp.down_proj.register_forward_pre_hook(lambda m, a, k=keep_n: (a[0] * k,))
        )
        hooks.append(
            layer.self_attn.o_proj.register_forward_pre_hook(lambda m, a, k=keep_h: (a[0] * k,))
        )
    with torch.inference_mode():
        out = depth(input_ids=ids).logits
    for hook in hooks:
        hook.remove()
    return out


@pytest.mark.parametrize("heads_keep", [4, 3])  # 2 per KV group; 1 whole group of 3
def test_width_pruned_student_is_a_plain_model_equal_to_the_masked_teacher(
    gqa_teacher, heads_keep, tmp_path
):
    from transformers import AutoConfig, AutoModelForCausalLM

    from core.distill.width import activation_scores, apply_plan, width_plan

    model, tokenizer = gqa_teacher
    enc = tokenizer(CALIB, return_tensors="pt", padding=True)
    scores = activation_scores(model, enc["input_ids"], enc["attention_mask"])
    plan = width_plan(model.config, scores, [0, 2], mlp_keep=0.5, heads_keep=heads_keep)
    student = apply_plan(model, plan)
    student.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)  # plain transformers, nothing of ours
    kv = 2 if heads_keep == 4 else 1
    assert (config.num_hidden_layers, config.intermediate_size) == (2, 48)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (
        heads_keep,
        kv,
        8,
    )
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.num_parameters() < model.num_parameters()
    ids = tokenizer(["A teacher model answers prompts."], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        got = loaded(input_ids=ids).logits
    assert torch.allclose(got, _masked_forward(model, plan, ids), atol=1e-5)
    if heads_keep == 4:  # the best 2 of each group of 3
        assert all(sum(h // 3 == g for h in heads) == 2 for heads in plan.q_heads for g in (0, 1))


def test_depth_and_width_combine_and_hidden_channels_shrink(gqa_teacher, tmp_path):
    from transformers import AutoModelForCausalLM

    from core.distill.config import PruneConfig
    from core.distill.student import prune_student

    model, tokenizer = gqa_teacher
    prune = PruneConfig(
        layers=2, method="block_influence", mlp_keep=0.75, heads_keep=4, hidden_keep=0.75
    )
    student, kept = prune_student(model, tokenizer, prune, CALIB)
    assert len(kept) == 2 and model.config.num_hidden_layers == 3  # teacher untouched
    student.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert (loaded.config.hidden_size, loaded.config.intermediate_size) == (36, 72)
    ids = tokenizer(["Hello there"], return_tensors="pt")
    out = loaded.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4


def test_block_influence_drops_the_layers_that_change_least():
    from core.distill.student import block_influence_layers

    base = torch.randn(1, 5, 8)
    states = [base, base + 1.0, base + 1.0 + 0.01, base * -1, base * -1 + 0.02]
    assert block_influence_layers(states, torch.ones(1, 5), 2) == [0, 2]


def test_prune_settings_that_leave_nothing_are_all_reported_at_once(gqa_teacher):
    from core.distill.config import PruneConfig, load_preset
    from core.distill.student import check_prune

    with pytest.raises(InputError) as caught:
        load_preset("quick", ["prune.mlp_keep=0", "prune.heads_keep=0", "prune.hidden_keep=1.5"])
    message = caught.value.message
    assert "3 problem(s)" in message and "\n" not in message
    for field in ("prune.mlp_keep", "prune.heads_keep", "prune.hidden_keep"):
        assert field in message
    model, _ = gqa_teacher
    with pytest.raises(InputError) as caught:
        check_prune(PruneConfig(layers=9, heads_keep=12), model.config)
    message = caught.value.message
    assert "2 problem(s)" in message
    assert "more than the teacher's 3 layers" in message
    assert "more than the teacher's 6 heads" in message
    with pytest.raises(InputError, match="one of 2, 3, 4, 6"):
        check_prune(PruneConfig(heads_keep=5), model.config)


def test_greedy_kl_drops_a_layer_that_changes_nothing_and_leaves_the_teacher_alone(teacher):
    """A layer whose attention and MLP outputs are zeroed passes its input through unchanged:
    removing it leaves the output distribution exactly as it was, so greedy_kl drops it first."""
    import copy

    from core.distill.student import greedy_kl_layers

    model, tokenizer = teacher
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.model.layers[2].self_attn.o_proj.weight.zero_()
        model.model.layers[2].mlp.down_proj.weight.zero_()
    enc = tokenizer(["the fox runs far", "a dog sleeps"], return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert greedy_kl_layers(model, 3, ids, mask) == [0, 1, 3]
    two = greedy_kl_layers(model, 2, ids, mask)
    assert len(two) == 2 and two[0] == 0 and 2 not in two
    assert len(model.model.layers) == 4 and model.config.num_hidden_layers == 4
