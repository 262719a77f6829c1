"""The two serving fast paths give the same numbers as the plain ones.

- ``core.backends.kvcache.GrowingLayer``: a cache that grows in place instead of
  concatenating every step; logits equal DynamicCache's through rows dropped, a cache
  replaced from outside (as the engine splices rows in) and buffer growth.
- ``core.backends.prepack``: bf16 weights packed once for oneDNN; logits and greedy answers
  equal the unpacked model's, copies and gradients still work, float32 is left alone.

Tiny random 2-layer Llama, CPU.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from core.backends import kvcache
from core.backends.kvcache import GrowingLayer, growing_cache
from core.backends.prepack import prepack_linears
from core.backends.transformers_backend import TransformersBackend
from core.dtype import native_bf16
from core.generation import ChatRequest, GenerationParams
from core.models import resolve_model

needs_bf16 = pytest.mark.skipif(not native_bf16("cpu"), reason="needs a CPU with native bf16")


def load(folder, dtype=torch.float32):
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()


def decode(model, cache, steps: int, *, batch: int = 3, edit=None):
    """Prefill a fixed batch, then greedy-decode ``steps`` tokens; every step's logits."""
    ids = torch.randint(5, 400, (batch, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    seen = []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True)
        for step in range(steps):
            logits = out.logits[:, -1]
            seen.append(logits.clone())
            last = logits.argmax(-1, keepdim=True)
            if edit is not None and step in edit:
                keep = edit[step](cache)
                last, mask = last[keep], mask[keep]
            mask = torch.cat([mask, torch.ones_like(last)], dim=1)
            out = model(input_ids=last, attention_mask=mask, cache=cache, use_cache=True)
    return seen


def drop_middle_row(cache):
    keep = torch.tensor([0, 2])
    for layer in cache.layers:
        layer.batch_select_indices(keep)
    return keep


def replace_from_outside(cache):
    """What the engine's splice does: set keys and values to new tensors."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys.clone(), layer.values.clone()
    return torch.arange(cache.layers[0].keys.shape[0])


def test_growing_cache_gives_dynamic_cache_logits(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(kvcache, "SPARE", 8)  # grows its buffer several times in 40 steps
    model = load(tiny_model_dir)
    edits = {12: drop_middle_row, 25: replace_from_outside}
    plain = decode(model, DynamicCache(config=model.config), 40, edit=edits)
    cache = growing_cache(model.config)
    assert all(type(layer) is GrowingLayer for layer in cache.layers)
    grown = decode(model, cache, 40, edit=edits)
    assert len(plain) == len(grown) == 40
    for step, (a, b) in enumerate(zip(plain, grown, strict=True)):
        assert torch.equal(a, b), f"logits differ at step {step}"
    layer = cache.layers[0]
    assert layer.keys.shape[-2] == 9 + 40 and layer._buffers[0].shape[-2] >= layer.keys.shape[-2]


def test_growing_cache_copies_once_per_spare_room_not_every_step(tiny_model_dir, monkeypatch):
    model = load(tiny_model_dir)
    copies = []
    real = GrowingLayer._rebuffer
    monkeypatch.setattr(
        GrowingLayer, "_rebuffer", lambda self, *a, **k: copies.append(1) or real(self, *a, **k)
    )
    cache = growing_cache(model.config)
    decode(model, cache, 40)  # 9 prompt tokens + 40 fit in one buffer (SPARE = 64)
    assert len(copies) == len(cache.layers)  # one buffer per layer, made at the prefill
    buffer = cache.layers[0]._buffers[0]
    assert cache.layers[0].keys.data_ptr() == buffer.data_ptr()  # keys are a view of it


@needs_bf16
def test_packed_bf16_model_gives_the_same_logits(tiny_model_dir):
    plain = load(tiny_model_dir, torch.bfloat16)
    packed = load(tiny_model_dir, torch.bfloat16)
    assert prepack_linears(packed) == sum(isinstance(m, torch.nn.Linear) for m in packed.modules())
    a = decode(plain, DynamicCache(config=plain.config), 6)
    b = decode(packed, DynamicCache(config=packed.config), 6)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    copied = copy.deepcopy(packed)  # the packed weight cannot be copied: the copy repacks
    c = decode(copied, DynamicCache(config=copied.config), 6)
    assert all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@needs_bf16
def test_packed_model_still_trains(tiny_model_dir):
    model = load(tiny_model_dir, torch.bfloat16)
    prepack_linears(model)
    ids = torch.randint(5, 400, (2, 8))
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert model.lm_head.weight.grad is not None and torch.isfinite(loss)


def test_float32_models_are_not_packed(tiny_model_dir):
    model = load(tiny_model_dir)
    assert prepack_linears(model) == 0
    assert all(
        type(m) is torch.nn.Linear for m in model.modules() if isinstance(m, torch.nn.Linear)
    )


@needs_bf16
def test_bf16_backend_serves_packed_with_unpacked_answers(tiny_model_dir):
    spec = resolve_model(str(tiny_model_dir))
    packed = TransformersBackend(spec, dtype="bfloat16")
    plain = TransformersBackend.from_model(load(tiny_model_dir, torch.bfloat16), packed.tokenizer)
    try:
        assert packed.prepacked > 0 and plain.prepacked == 0
        params = GenerationParams(max_new_tokens=16)
        requests = [ChatRequest.from_prompt(p) for p in ("Hello", "Paris is", "def add(a, b):")]
        assert [r.token_ids for r in packed.generate(requests, params)] == [
            r.token_ids for r in plain.generate(requests, params)
        ]
    finally:
        packed.close()
        plain.close()


def test_idle_scheduler_thread_ends_and_the_next_request_starts_one(tiny_model_dir):
    """An idle engine lets its thread (and so its OpenMP workers) go; nothing is lost at the
    boundary: requests sent just as the thread retires are still answered."""
    import time

    backend = TransformersBackend(resolve_model(str(tiny_model_dir)))
    engine = backend.engine
    engine.idle_exit_s = 0.05
    params = GenerationParams(max_new_tokens=6)
    request = [ChatRequest.from_prompt("Hello")]
    try:
        first = backend.generate(request, params)[0].token_ids
        time.sleep(0.3)
        assert engine._thread is None  # retired
        for pause in [0.0, 0.02, 0.04, 0.05, 0.06, 0.08] * 3:  # around the idle limit
            time.sleep(pause)
            assert backend.generate(request, params)[0].token_ids == first
    finally:
        backend.close()
