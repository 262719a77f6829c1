"""Default dtype by hardware: bf16 where the CPU or GPU computes it natively, else float32.

The hardware is faked through ``core.dtype.cpu_flags`` so every pick is tested on any CPU;
the slow test checks on the real default teacher that bf16 keeps its held-out perplexity.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from core import dtype as dtypes
from core.errors import InputError


@pytest.fixture
def cpu(monkeypatch):
    """Set the CPU flags this test pretends to have (and hide torch's own probe)."""
    monkeypatch.delenv(dtypes.ENV, raising=False)

    def have(*flags: str) -> None:
        monkeypatch.setattr(dtypes, "cpu_flags", lambda: frozenset(flags))
        monkeypatch.setattr(
            "torch.backends.cpu.get_cpu_capability",
            lambda: "AVX512_BF16" if "avx512_bf16" in flags else "AVX2",
        )

    return have


def test_native_bf16_cpus_and_cuda_serve_in_bfloat16(cpu):
    cpu("avx512f", "amx_bf16")
    assert dtypes.serving_dtype(device="cpu") == "bfloat16"
    cpu("avx512f", "avx512_bf16")
    assert dtypes.serving_dtype(device="cpu") == "bfloat16"
    cpu("avx2")
    assert dtypes.serving_dtype(device="cuda") == "bfloat16"


def test_other_cpus_serve_in_float32(cpu):
    cpu("avx2", "fma")
    assert dtypes.serving_dtype(device="cpu") == "float32"


def test_an_explicit_dtype_or_the_environment_wins(cpu, monkeypatch):
    cpu("amx_bf16")
    assert dtypes.serving_dtype("float32", device="cpu") == "float32"
    monkeypatch.setenv(dtypes.ENV, "float32")
    assert dtypes.serving_dtype(device="cpu") == "float32"
    assert dtypes.serving_dtype("bfloat16", device="cpu") == "bfloat16"


def test_a_bad_dtype_is_refused(cpu):
    with pytest.raises(InputError) as error:
        dtypes.serving_dtype("float8", device="cpu")
    assert error.value.code == "bad_dtype" and "float8" in error.value.message


def test_bfloat16_without_native_bf16_runs_with_one_warning(cpu, caplog, tiny_model_dir):
    from core.backends.transformers_backend import TransformersBackend
    from core.generation import ChatRequest, GenerationParams
    from core.models import resolve_model

    cpu("avx2")
    with caplog.at_level(logging.WARNING, logger="stillhouse"):
        backend = TransformersBackend(resolve_model(str(tiny_model_dir)), dtype="bfloat16")
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "emulated" in warnings[0] and "\n" not in warnings[0]
        result = backend.generate(
            [ChatRequest.from_prompt("Hi")], GenerationParams(max_new_tokens=4)
        )
        assert backend.info().dtype == "bfloat16" and result[0].tokens == 4
    finally:
        backend.close()


def test_the_backend_default_follows_the_hardware(cpu, tiny_model_dir):
    from core.backends.transformers_backend import TransformersBackend
    from core.models import resolve_model

    cpu("amx_bf16")
    backend = TransformersBackend(resolve_model(str(tiny_model_dir)), device="cpu")
    try:
        assert backend.info().dtype == "bfloat16"
    finally:
        backend.close()


@pytest.mark.slow
def test_bf16_keeps_the_default_teachers_heldout_perplexity_within_1_percent():
    import torch

    from core.distill.evaluate import compare_on_texts
    from core.models import DEFAULT_TEACHER, load_causal_lm, resolve_model

    spec = resolve_model(DEFAULT_TEACHER)
    full, tokenizer = load_causal_lm(spec, device="cpu", dtype="float32")
    half, _ = load_causal_lm(spec, device="cpu", dtype="bfloat16")
    assert half.dtype == torch.bfloat16
    heldout = Path(__file__).resolve().parents[2] / "data" / "prompts" / "heldout.jsonl"
    texts = [json.loads(line)["text"] for line in heldout.read_text().splitlines() if line]
    scores = compare_on_texts(full, half, tokenizer, texts)
    change = scores["perplexity"] / scores["teacher_perplexity"] - 1
    print(
        f"held-out perplexity float32 {scores['teacher_perplexity']:.3f}, "
        f"bfloat16 {scores['perplexity']:.3f} ({100 * change:+.2f}%)"
    )
    assert abs(change) < 0.01
