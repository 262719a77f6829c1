"""The top-k cache built from vLLM's prompt_logprobs (through the CPU engine double, shaped like
vLLM's outputs) equals the transformers cache on the same tiny teacher: same ids, log-probs and
tail within bf16 tolerance, written in the same cache format.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.backends.vllm_backend import VLLMBackend
from core.distill.cache import Sequence, _teacher_topk, build_topk_cache
from core.distill.progress import Progress
from core.distill.vllm_topk import rows_from_output, vllm_topk_rows
from core.errors import BackendError
from core.specs import ModelSpec
from tests.unit.vllm_fake import (
    CompletionOutput,
    FakeEngine,
    Logprob,
    RequestOutput,
    SamplingParams,
)

K = 8
TEXTS = ["Paris is the capital of France.", "One, two, three, four.", "def add(a, b):"]


@pytest.fixture(scope="module")
def teacher(tiny_model_dir):
    from core.models import load_causal_lm, resolve_model

    return load_causal_lm(resolve_model(str(tiny_model_dir)))


@pytest.fixture(scope="module")
def sequences(teacher):
    _, tokenizer = teacher
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    return [Sequence(i, list(i)) for i in ids]


@pytest.fixture
def vllm(teacher):
    model, tokenizer = teacher
    backend = VLLMBackend.from_engine(
        FakeEngine(model, tokenizer),
        tokenizer,
        ModelSpec(name="tiny", source="local"),
        sampling_params=SamplingParams,
        eos_ids={tokenizer.eos_token_id},
        poll_s=0.05,
    )
    yield backend
    backend.close()


def test_vllm_rows_match_the_transformers_rows(teacher, sequences, vllm):
    hf_rows = _teacher_topk(teacher[0], sequences, K, 0, False, None)  # no tail samples
    v_rows = vllm_topk_rows(vllm, k=K)(sequences)
    for (h_ids, h_lp, h_tail), (v_ids, v_lp, v_tail), seq in zip(
        hf_rows, v_rows, sequences, strict=True
    ):
        assert v_ids.shape == h_ids.shape == (len(seq.input_ids), K)
        read = slice(0, len(seq.input_ids) - 1)  # the rows the loss reads (the last predicts none)
        assert (v_ids[read] == h_ids[read]).all()
        np.testing.assert_allclose(v_lp[read], h_lp[read], atol=1e-2)  # bf16 tolerance
        np.testing.assert_allclose(v_tail[read], h_tail[read], atol=1e-2)


def test_the_vllm_cache_is_the_same_cache_as_the_transformers_one(
    teacher, sequences, vllm, tmp_path
):
    model, _ = teacher
    progress = Progress(False)
    hf = build_topk_cache(model, sequences, tmp_path / "hf", k=K, bf16=False, progress=progress)
    via_vllm = build_topk_cache(
        None,
        sequences,
        tmp_path / "vllm",
        k=K,
        progress=progress,
        topk_rows=vllm_topk_rows(vllm, k=K),
        vocab=model.config.vocab_size,
    )
    assert via_vllm.tokens == hf.tokens and via_vllm.bytes == hf.bytes
    read = np.ones(hf.tokens, dtype=bool)
    read[np.cumsum([len(s.input_ids) for s in sequences]) - 1] = False  # the last rows predict
    # nothing: the loss does not read them
    assert (via_vllm.ids[read] == hf.ids[read]).all()
    np.testing.assert_allclose(via_vllm.logprobs[read], hf.logprobs[read], atol=1e-2)


def test_an_actual_token_outside_the_top_k_is_folded_into_the_tail():
    def step(values):
        return {i: Logprob(v) for i, v in values.items()}

    prompt = [None, step({5: -0.5, 6: -1.5, 9: -6.0})]  # 9: the actual token, rank 3
    output = RequestOutput(
        "0",
        [1, 9],
        [CompletionOutput(0, "", [4], None, [step({4: -0.1, 3: -3.0})])],
        True,
        prompt_logprobs=prompt,
    )
    ids, logprobs, tail = rows_from_output(output, 2, 2)
    assert ids.tolist() == [[5, 6], [4, 3]]
    assert tail[0] == pytest.approx(np.log(1 - np.exp(-0.5) - np.exp(-1.5)), abs=1e-5)


def test_too_few_logprobs_is_a_clear_error():
    output = RequestOutput(
        "0", [1, 2], [CompletionOutput(0, "", [3], None, [{3: Logprob(-0.1)}])], True, [None, {}]
    )
    with pytest.raises(BackendError, match="max_logprobs"):
        rows_from_output(output, 2, 4)


def test_distill_builds_its_cache_with_the_vllm_engine_once(tiny_model_dir, vllm):
    from core.distill.cache import MANIFEST
    from core.distill.cache_mmap import mmap_topk_cache
    from core.distill.config import DistillConfig
    from core.distill.data import teacher_data
    from core.distill.vllm_topk import cache_with_vllm
    from core.generation import GenerationParams
    from core.models import resolve_model

    spec = resolve_model(str(tiny_model_dir))
    prompts = [{"id": str(i), "prompt": p} for i, p in enumerate(TEXTS)]
    data = teacher_data(
        vllm,
        prompts,
        GenerationParams(max_new_tokens=6),
        teacher_name="tiny",
        teacher_sha256=None,
        batch_size=2,
        progress=Progress(False),
    )
    config = DistillConfig(teacher=str(tiny_model_dir), topk=K, max_seq_len=64)
    started: list[int] = []

    def engine():
        started.append(1)
        return vllm

    cache = cache_with_vllm(engine, spec, config, data, Progress(False))
    assert cache is not None and (cache.folder / MANIFEST).is_file() and started == [1]
    assert mmap_topk_cache(cache.folder).tokens == cache.tokens
    # another rank, or a second run: the cache is there, no engine is started
    assert cache_with_vllm(engine, spec, config, data, Progress(False)) is None
    assert started == [1]
