"""The GPU half of the vLLM path (marked gpu; skipped without CUDA and vllm; nobody has run these
on a GPU yet): close() gives the memory back, two engines share one GPU, vLLM's real
prompt_logprobs make the same top-k rows as transformers, the EOS contract holds on the real
engine, and the chunked loss matches the plain one in bf16 on CUDA.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
pytestmark = [pytest.mark.gpu, needs_cuda]


def _vllm():
    pytest.importorskip("vllm")
    from core.backends.vllm_backend import VLLMBackend

    return VLLMBackend


def test_close_gives_the_gpu_memory_back_and_a_second_engine_starts(tiny_model_dir):
    VLLMBackend = _vllm()
    from core.models import resolve_model

    spec = resolve_model(str(tiny_model_dir))
    free_before = torch.cuda.mem_get_info()[0]
    first = VLLMBackend(spec, gpu_memory_utilization=0.5)
    taken = free_before - torch.cuda.mem_get_info()[0]
    first.close()
    back = torch.cuda.mem_get_info()[0] - (free_before - taken)
    assert back > 0.8 * taken
    second = VLLMBackend(spec, gpu_memory_utilization=0.6)  # would not fit beside the first
    try:
        assert second.health().ok
    finally:
        second.close()


def test_two_engines_share_one_gpu_by_weight_size(tiny_model_dir, tiny_teacher_dir):
    VLLMBackend = _vllm()
    from core.backends.memory import served_shares
    from core.generation import ChatRequest, GenerationParams
    from core.models import resolve_model

    specs = served_shares(
        [resolve_model(str(tiny_teacher_dir)), resolve_model(str(tiny_model_dir))]
    )
    assert specs[0].gpu_memory_utilization > specs[1].gpu_memory_utilization
    engines = [VLLMBackend(s) for s in specs]
    try:
        for engine in engines:
            result = engine.generate(
                [ChatRequest.from_prompt("Hi")], GenerationParams(max_new_tokens=4)
            )
            assert result[0].tokens == 4
    finally:
        for engine in engines:
            engine.close()


def test_real_prompt_logprobs_make_the_transformers_top_k_rows(tiny_model_dir):
    VLLMBackend = _vllm()
    import numpy as np

    from core.distill.cache import Sequence, _teacher_topk
    from core.distill.vllm_topk import vllm_topk_rows
    from core.models import load_causal_lm, resolve_model

    spec = resolve_model(str(tiny_model_dir))
    model, tokenizer = load_causal_lm(spec, device="cuda")
    ids = tokenizer("Paris is the capital of France.", add_special_tokens=False)["input_ids"]
    ((h_ids, h_lp, _),) = _teacher_topk(model, [Sequence(ids, ids)], 8, 0, False, None)
    del model
    backend = VLLMBackend(spec, gpu_memory_utilization=0.4, dtype="float32")
    try:
        ((v_ids, v_lp, _),) = vllm_topk_rows(backend, k=8)([Sequence(ids, ids)])
    finally:
        backend.close()
    assert (v_ids[:-1, :3] == h_ids[:-1, :3]).mean() > 0.95  # the last row predicts nothing
    np.testing.assert_allclose(v_lp[:-1], h_lp[:-1], atol=2e-2)


def test_the_eos_contract_holds_on_the_real_engine(tiny_model_dir):
    VLLMBackend = _vllm()
    from core.generation import ChatRequest, GenerationParams
    from core.models import resolve_model

    backend = VLLMBackend(resolve_model(str(tiny_model_dir)), gpu_memory_utilization=0.4)
    try:
        params = GenerationParams(max_new_tokens=12, top_logprobs=2)
        for prompt in ("Hello", "Paris is", "def add(a, b):"):
            result = backend.generate([ChatRequest.from_prompt(prompt)], params)[0]
            assert result.tokens == len(result.token_ids) == len(result.top_logprobs or [])
            assert not set(result.token_ids) & backend.eos_ids
            chunks = list(backend.stream_chunks(ChatRequest.from_prompt(prompt), params))
            assert chunks[-1].prompt_tokens == result.prompt_tokens
            assert sum(c.tokens for c in chunks) == result.tokens
    finally:
        backend.close()


def test_chunked_loss_matches_on_cuda_in_bf16(tiny_model_dir, tiny_teacher_dir):
    from core.distill import losses
    from core.distill.chunked import chunked_kd
    from core.models import load_causal_lm, resolve_model

    student, _ = load_causal_lm(resolve_model(str(tiny_model_dir)), device="cuda")
    teacher, _ = load_causal_lm(resolve_model(str(tiny_teacher_dir)), device="cuda")
    ids = torch.randint(3, student.config.vocab_size, (4, 33), device="cuda")
    keep = torch.ones(4, 32, dtype=torch.bool, device="cuda")
    with torch.no_grad():
        top = losses.topk_of(teacher(input_ids=ids).logits[:, :-1], 16)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        plain = losses.topk_loss(
            "forward_kl", student(input_ids=ids).logits[:, :-1], *top, mask=keep, reduction="sum"
        )
        hidden = student(
            input_ids=ids,
            output_hidden_states=True,
            logits_to_keep=torch.empty(0, dtype=torch.long, device="cuda"),
        )
        chunked, _ = chunked_kd(
            hidden.hidden_states[-1][:, :-1],
            student.get_output_embeddings(),
            keep,
            ids[:, 1:],
            lambda lg, i, lp, t: losses.topk_loss("forward_kl", lg, i, lp, t, reduction="sum"),
            teacher=top,
            chunk=20,
            ce=False,
        )
    assert chunked.item() == pytest.approx(plain.item(), rel=2e-2)
